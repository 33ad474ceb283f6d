/** Questions the commands ask of a loaded access file. */
import { OamError } from '../errors.ts';
import { type AccessFile, type ApprovalStep, type Component, CREDENTIAL_TRAIT_TYPES, type CredentialTrait, type MrAuditTrait, type Policy } from './model.ts';

/**
 * The component named by --component, e.g. `findComponent(file, 'deploy-prod')`.
 * Throws ERR_COMPONENT_UNKNOWN with a hint listing the names the file has.
 */
export function findComponent(file: AccessFile, name: string): Component {
  const found = file.components.find((c) => c.name === name);
  if (found) return found;
  const known = file.components.map((c) => c.name).join(', ');
  const message = name === '' ? `no component selected in ${file.path}` : `${file.path} has no component ${JSON.stringify(name)}`;
  throw new OamError('ERR_COMPONENT_UNKNOWN', message, {
    hint: `pass --component (or OAM_COMPONENT) with one of: ${known}`,
  });
}

function nameOf(component: Component | string): string {
  return typeof component === 'string' ? component : component.name;
}

/** The policies that apply to a component (those without componentNames apply to all), in file order. */
export function policiesFor(file: AccessFile, component: Component | string): readonly Policy[] {
  const name = nameOf(component);
  return file.policies.filter((p) => p.componentNames === undefined || p.componentNames.includes(name));
}

/** The jit-approval step guarding a component, or undefined when it needs no approval. */
export function approvalStepFor(file: AccessFile, component: Component | string): ApprovalStep | undefined {
  const name = nameOf(component);
  return file.steps.find((s) => s.component === name);
}

/**
 * The component's credential traits in exchange order (CREDENTIAL_TRAIT_TYPES).
 * Throws ERR_METADATA_INVALID if it has none (a validated file always has one).
 */
export function credentialTraitsOf(component: Component): CredentialTrait[] {
  const traits = component.traits.filter((t): t is CredentialTrait => (CREDENTIAL_TRAIT_TYPES as readonly string[]).includes(t.type));
  if (traits.length === 0) {
    throw new OamError('ERR_METADATA_INVALID', `component ${JSON.stringify(component.name)} has no credential trait`, {
      hint: `add a credential trait (${CREDENTIAL_TRAIT_TYPES.join(', ')}) to the component`,
    });
  }
  return traits.sort((a, b) => CREDENTIAL_TRAIT_TYPES.indexOf(a.type) - CREDENTIAL_TRAIT_TYPES.indexOf(b.type));
}

/** The component's first credential trait (the only one of most components). */
export function credentialTraitOf(component: Component): CredentialTrait {
  return credentialTraitsOf(component)[0]!;
}

/** The component's mr-audit trait, or undefined. */
export function auditTraitOf(component: Component): MrAuditTrait | undefined {
  return component.traits.find((t): t is MrAuditTrait => t.type === 'mr-audit');
}

/** True when the component's mr-audit trait says no credentials without a posted note. */
export function isAuditRequired(component: Component): boolean {
  return auditTraitOf(component)?.required === true;
}
