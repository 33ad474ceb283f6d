import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAuditRecord } from '../../src/report/audit-record.ts';
import { renderMetrics } from '../../src/report/metrics.ts';
import { isNoteFor, noteMarker, renderNote, renderSummary } from '../../src/report/render-note.ts';
import type { ReportState } from '../../src/report/report-state.ts';
import { jobUrlFor, pipelineUrlFor } from '../../src/report/report-state.ts';
import { claims } from '../approval/fixtures.ts';

const requested = {
  component: 'deploy-prod',
  credentials: [
    {
      provider: 'aws-sts' as const,
      identity: 'arn:aws:iam::123456789012:role/ci-deploy',
      durationSeconds: 900,
      scopeDigest: 'd9f7e12ad50b'.padEnd(64, '0'),
      scopeSummary: 's3:PutObject on arn:aws:s3:::releases/*',
    },
  ],
  durationSeconds: 900,
  scopeDigest: 'd9f7e12ad50b'.padEnd(64, '0'),
  scopeSummary: 's3:PutObject on arn:aws:s3:::releases/*',
};

function state(outcome: ReportState['outcome'], overrides: Partial<ReportState> = {}): ReportState {
  return {
    component: 'deploy-prod',
    pipelineId: '1002',
    ref: 'main',
    commitSha: 'a'.repeat(40),
    requested,
    step: { name: 'approve-deploy-prod', minApprovals: 2, validForSeconds: 1800, timeoutSeconds: 7200 },
    request: { requester: { login: 'dev', id: '42' }, job: { id: '800' }, at: new Date('2026-01-01T10:00:00Z') },
    approvals: [
      { approver: { login: 'alice', id: '43' }, reason: 'OPS-1', job: { id: '901' }, at: new Date('2026-01-01T10:05:00Z'), via: 'listed in approvers.users', latencySeconds: 300 },
      { approver: { login: 'carol', id: '45' }, reason: '', job: { id: '902' }, at: new Date('2026-01-01T10:20:00Z'), via: 'member of acme/sre', latencySeconds: 1200 },
    ],
    matchedPolicies: ['protected-main'],
    outcome,
    ...overrides,
  };
}

const granted: ReportState['outcome'] = {
  kind: 'granted',
  actor: { login: 'dev', id: '42' },
  job: { id: '1000' },
  at: new Date('2026-01-01T10:21:00Z'),
  expiresAt: new Date('2026-01-01T10:36:00Z'),
  credentials: [
    {
      provider: 'aws-sts',
      identity: 'arn:aws:sts::123456789012:assumed-role/ci-deploy/acme.payments@p1002.j1000',
      sessionName: 'acme.payments@p1002.j1000',
      expiresAt: new Date('2026-01-01T10:36:00Z'),
    },
  ],
  exchangeMs: 120,
};

describe('renderNote', () => {
  it('opens with the marker, so the next job finds it again', () => {
    const body = renderNote(state({ kind: 'requested' }));
    assert.ok(body.startsWith(`${noteMarker('1002', 'deploy-prod')}\n`));
    assert.ok(isNoteFor(body, '1002', 'deploy-prod'));
    assert.ok(!isNoteFor(body, '1003', 'deploy-prod'));
    assert.ok(!isNoteFor(body, '1002', 'deploy'));
  });

  it('cannot be claimed by a component whose name tries to close the marker', () => {
    assert.equal(noteMarker('1', 'x --> <b>'), '<!-- oam-grant:v1 pipeline=1 component=x%20--%3E%20%3Cb%3E -->');
  });

  const headlines: [ReportState['outcome'], RegExp][] = [
    [{ kind: 'requested' }, /⏳ \*\*deploy\\-prod\*\*: access requested, waiting for approval \(2 of 2\)/],
    [{ kind: 'approved' }, /✅ \*\*deploy\\-prod\*\*: approved \(2 of 2\), waiting for the grant job/],
    [granted, /🔑 \*\*deploy\\-prod\*\*: granted until 2026-01-01 10:36:00 UTC/],
    [
      { kind: 'denied', code: 'ERR_APPROVAL_SELF', message: 'dev may not approve', stage: 'approve', actor: { login: 'dev' }, job: { id: '903' }, at: new Date('2026-01-01T10:30:00Z') },
      /⛔ \*\*deploy\\-prod\*\*: denied at approve \(ERR\\_APPROVAL\\_SELF\)/,
    ],
  ];
  for (const [outcome, headline] of headlines) {
    it(`headline when ${outcome.kind}`, () => assert.match(renderNote(state(outcome)), headline));
  }

  it('shows who, what, until when, which jobs and the latency', () => {
    const body = renderNote(state(granted));
    assert.match(body, /\| Role \| `arn:aws:iam::123456789012:role\/ci-deploy` \|/);
    assert.match(body, /\| Duration \| 15m, expires 2026-01-01 10:36:00 UTC \|/);
    assert.match(body, /\| Requested by \| dev in job 800 at 2026-01-01 10:00:00 UTC \|/);
    assert.match(body, /\| carol \| member of acme\/sre \| — \| job 902 \| 2026-01-01 10:20:00 UTC \| 20m \|/);
    assert.match(body, /\| Session \| `acme.payments@p1002.j1000` \|/);
  });

  describe('the instruction to approvers', () => {
    const instruction: NonNullable<ReportState['instruction']> = {
      command: 'oam-grant approve deploy-prod:',
      reasonRequired: true,
      reasonPattern: '^[A-Z]+-[0-9]+',
      place: 'merge-request',
      variableAccepted: false,
      pipeline: { id: '1002', url: 'https://gitlab.example.com/acme/payments/-/pipelines/1002' },
    };
    const waiting = (i: Partial<typeof instruction> = {}, outcome: ReportState['outcome'] = { kind: 'requested' }) =>
      renderNote(state(outcome, { approvals: [], instruction: { ...instruction, ...i } }));

    it('says exactly what to write, where, and which job to run', () => {
      assert.ok(
        waiting().includes(
          '**To approve:** comment `oam-grant approve deploy-prod: <reason matching ^[A-Z]+-[0-9]+>` on this merge request yourself (as a line of its own), then press Run on the approve job of [pipeline 1002](https://gitlab.example.com/acme/payments/-/pipelines/1002).\n',
        ),
      );
    });
    it('on a commit, for an optional reason, and with the variable fallback', () => {
      const body = waiting({ reasonRequired: false, reasonPattern: undefined, place: 'commit', variableAccepted: true });
      assert.ok(
        body.includes(
          '**To approve:** press Run on the approve job of [pipeline 1002](https://gitlab.example.com/acme/payments/-/pipelines/1002). To give a reason, first comment `oam-grant approve deploy-prod: <reason>` on this commit yourself. Only where you wrote no such comment does a Run-form variable `OAM_APPROVAL_REASON` count, marked unsigned.',
        ),
        body,
      );
    });
    it('escapes a pattern that would close the code span', () => {
      const body = waiting({ reasonPattern: '`x` @all [a](https://evil.example)' });
      assert.doesNotMatch(body, /`x`|@all|\]\(https:\/\/evil/);
      assert.match(body, /comment oam\\-grant approve deploy\\-prod\\: &lt;reason matching \\`x\\` @\u200ball/);
    });
    it('is shown only while approvals are awaited, or after a refusal at approve', () => {
      const deniedAt = (stage: 'approve' | 'grant'): ReportState['outcome'] => ({ kind: 'denied', code: 'ERR_APPROVAL_REASON', message: 'no reason', stage, actor: { login: 'alice' }, job: { id: '901' }, at: new Date() });
      assert.match(waiting({}, deniedAt('approve')), /To approve:/);
      assert.doesNotMatch(waiting({}, deniedAt('grant')), /To approve:/);
      assert.doesNotMatch(waiting({}, granted), /To approve:/);
      assert.doesNotMatch(renderNote(state({ kind: 'approved' }, { instruction })), /To approve:/, '2 of 2: complete');
      assert.match(renderNote(state({ kind: 'approved' }, { instruction, step: { name: 's', minApprovals: 3, validForSeconds: 1, timeoutSeconds: 1 } })), /To approve:/);
    });
  });

  it('labels where each reason came from: a comment, or a pipeline variable (unsigned)', () => {
    const [alice, carol] = state(granted).approvals;
    const body = renderNote(
      state(granted, {
        approvals: [
          { ...alice!, reasonSource: { kind: 'comment', noteId: 321, location: { kind: 'merge-request', projectId: '1217', iid: '7' }, createdAt: '2026-01-01T10:04:00Z' } },
          { ...carol!, reason: 'OPS-2', reasonSource: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' } },
        ],
      }),
    );
    assert.match(body, /\| alice \| listed in approvers\.users \| OPS\\-1 · comment 321 \|/);
    assert.match(body, /\| carol \| member of acme\/sre \| OPS\\-2 · reason from a pipeline variable \(unsigned\) \|/);
    const record = buildAuditRecord(state(granted, { approvals: [{ ...carol!, reason: 'OPS-2', reasonSource: { kind: 'variable', variable: 'OAM_APPROVAL_REASON' } }] }), new Date());
    assert.equal(record.events[1]?.reasonFrom, 'reason from a pipeline variable (unsigned)');
    assert.deepEqual(record.events[1]?.reasonSource, { kind: 'variable', variable: 'OAM_APPROVAL_REASON' });
  });

  it('builds job links from signed claims only', () => {
    assert.equal(jobUrlFor('https://gitlab.example.com', claims({ project_path: 'acme/payments', job_id: '9' })), 'https://gitlab.example.com/acme/payments/-/jobs/9');
    assert.equal(jobUrlFor('https://gitlab.example.com', claims({ project_path: 'acme/x)(javascript:', job_id: '9' })), undefined);
    assert.equal(jobUrlFor('javascript:alert(1)', claims()), undefined);
    assert.equal(pipelineUrlFor('https://gitlab.example.com/', claims({ project_path: 'acme/payments', pipeline_id: '1002' })), 'https://gitlab.example.com/acme/payments/-/pipelines/1002');
    assert.equal(pipelineUrlFor('https://gitlab.example.com', claims({ pipeline_id: '1002/../x' })), undefined);
  });

  it('summarises in plain text for the job log', () => {
    assert.equal(
      renderSummary(state(granted)),
      [
        'oam-grant deploy-prod, pipeline 1002: granted',
        "  role arn:aws:iam::123456789012:role/ci-deploy, 15m, scope s3:PutObject on arn:aws:s3:::releases/* (digest d9f7e12ad50b)",
        '  requested by dev in job 800 at 2026-01-01 10:00:00 UTC',
        '  approved by alice (listed in approvers.users) in job 901 at 2026-01-01 10:05:00 UTC: "OPS-1"',
        '  approved by carol (member of acme/sre) in job 902 at 2026-01-01 10:20:00 UTC',
        '  granted until 2026-01-01 10:36:00 UTC by job 1000',
      ].join('\n'),
    );
  });
});

describe('audit record and metrics', () => {
  it('lists every event with time, actor, decision and reason, and the timings', () => {
    const record = buildAuditRecord(state(granted), new Date('2026-01-01T10:21:01Z'));
    assert.deepEqual(
      record.events.map((e) => [e.event, e.actor.login, e.decision, e.reason ?? null, e.at]),
      [
        ['requested', 'dev', 'allow', null, '2026-01-01T10:00:00.000Z'],
        ['approved', 'alice', 'allow', 'OPS-1', '2026-01-01T10:05:00.000Z'],
        ['approved', 'carol', 'allow', '', '2026-01-01T10:20:00.000Z'],
        ['granted', 'dev', 'allow', null, '2026-01-01T10:21:00.000Z'],
      ],
    );
    // The quorum of two was reached by the second approval.
    assert.deepEqual(record.timings, { approvalLatencySeconds: 1200, exchangeDurationMs: 120 });
    assert.deepEqual(record.grant, {
      credentials: [
        {
          provider: 'aws-sts',
          identity: 'arn:aws:sts::123456789012:assumed-role/ci-deploy/acme.payments@p1002.j1000',
          sessionName: 'acme.payments@p1002.j1000',
          expiresAt: '2026-01-01T10:36:00.000Z',
        },
      ],
      expiresAt: '2026-01-01T10:36:00.000Z',
      scopeDigest: requested.scopeDigest,
    });
    assert.deepEqual(record.matchedPolicies, ['protected-main']);
  });

  it('records a denial with its code and message', () => {
    const record = buildAuditRecord(
      state({ kind: 'denied', code: 'ERR_APPROVAL_EXPIRED', message: 'too late', stage: 'grant', actor: { login: 'dev' }, job: { id: '1000' }, at: new Date('2026-01-01T12:00:00Z') }, { approvals: [] }),
      new Date(),
    );
    assert.equal(record.outcome, 'denied');
    assert.deepEqual(record.events.at(-1), { event: 'denied', at: '2026-01-01T12:00:00.000Z', actor: { login: 'dev' }, decision: 'deny', jobId: '1000', code: 'ERR_APPROVAL_EXPIRED', message: 'too late' });
  });

  it('writes OpenMetrics text for artifacts:reports:metrics', () => {
    assert.equal(
      renderMetrics(state(granted)),
      [
        '# TYPE oam_grant_approval_latency_seconds gauge',
        '# HELP oam_grant_approval_latency_seconds Seconds from the request to the approval that completed the quorum.',
        'oam_grant_approval_latency_seconds{component="deploy-prod",providers="aws-sts"} 1200',
        '# TYPE oam_grant_approvals gauge',
        '# HELP oam_grant_approvals Valid approvals from distinct people.',
        'oam_grant_approvals{component="deploy-prod",providers="aws-sts"} 2',
        '# TYPE oam_grant_exchange_duration_seconds gauge',
        '# HELP oam_grant_exchange_duration_seconds Seconds the credential exchange took.',
        'oam_grant_exchange_duration_seconds{component="deploy-prod",providers="aws-sts"} 0.12',
        '# TYPE oam_grant_credential_lifetime_seconds gauge',
        '# HELP oam_grant_credential_lifetime_seconds Seconds the credentials stay valid after the grant.',
        'oam_grant_credential_lifetime_seconds{component="deploy-prod",providers="aws-sts"} 900',
        '# TYPE oam_grant_granted gauge',
        '# HELP oam_grant_granted 1 when credentials were issued, 0 otherwise.',
        'oam_grant_granted{component="deploy-prod",providers="aws-sts"} 1',
        '# EOF',
        '',
      ].join('\n'),
    );
  });
});
