/**
 * A last line of defence: every value registered here is replaced with
 * `[MASKED]` in anything oam-grant prints. Messages are built without secrets
 * in the first place; this catches what a foreign error message might echo.
 */
const secrets = new Set<string>();

/** Values shorter than this are not masked: masking "1" would garble every log line. */
const MIN_LENGTH = 8;

export function registerSecret(value: string): void {
  if (value.length >= MIN_LENGTH) secrets.add(value);
}

export function redact(text: string): string {
  let result = text;
  for (const secret of secrets) {
    if (result.includes(secret)) result = result.split(secret).join('[MASKED]');
  }
  return result;
}
