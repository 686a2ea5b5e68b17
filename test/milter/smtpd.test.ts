/**
 * Filters in the SMTP engine, seen through Python's smtplib: the python
 * milter (fixtures/all_actions_milter.py) refuses recipients at RCPT with
 * its own (multi-line) reply, changes headers, recipients and the body at
 * the end of the message, quarantines one (held in the queue, shown by
 * mailq, skipped by queue runs); opendkim signs what is queued and
 * opendkim in verify mode passes it; a dead filter with F=T makes MAIL
 * answer 451 4.3.2; a listener without filters opens none.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Config } from '../../src/config/index.js';
import { mailqEntries } from '../../src/queue/listing.js';
import { formatMailq } from '../../src/queue/mailq.js';
import { Logger, MemorySink } from '../../src/common/log.js';
import { quarantineTarget } from '../../src/mta/quarantine-mode.js';
import { usesMilters } from '../../src/mta/smtpd/milters.js';
import { QueueRunner } from '../../src/queue/runner.js';
import { IDENTITY, PYTHON as SMTP_PYTHON, run, startSmtpd, type Harness } from '../mta/smtpd/harness.js';
import { FIXTURES, milterConfig, parseHeaderBlock, PYTHON, pythonMilterMissing, readEvents, safeTempDir, startFilter, stopFilter, tempDir } from './helpers.js';

/** Adds the X lines of a small sendmail.cf to the engine's configuration (and makes them the InputMailFilters). */
function withFilters(dir: string, xLines: string[]): (config: Config) => void {
  const milters = milterConfig(dir, xLines);
  return (config) => {
    for (const [name, def] of milters.milters) config.milters.set(name, def);
    config.options.InputMailFilters = milters.options.InputMailFilters;
  };
}

/** smtplib, one session: each step's reply as [code, text], or the refusal smtplib raised. */
const SMTPLIB = `
import json, smtplib, sys
port, steps = int(sys.argv[1]), json.loads(sys.argv[2])
out = []
s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.example.test')
s.ehlo()
for st in steps:
    try:
        refused = s.sendmail(st['from'], st['to'], st['msg'].replace('\\n', '\\r\\n'))
        out.append({'ok': True, 'refused': {k: [v[0], v[1].decode()] for k, v in refused.items()}})
    except smtplib.SMTPRecipientsRefused as e:
        out.append({'ok': False, 'refused': {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}})
    except smtplib.SMTPResponseException as e:
        out.append({'ok': False, 'code': e.smtp_code, 'text': e.smtp_error.decode()})
        s.rset()
try:
    s.quit()
except Exception:
    pass
print(json.dumps(out))
`;

interface Step {
  from: string;
  to: string[];
  msg: string;
}
type StepResult = { ok: boolean; refused?: Record<string, [number, string]>; code?: number; text?: string };

async function smtplib(h: Harness, steps: Step[]): Promise<StepResult[]> {
  const r = await run(SMTP_PYTHON, ['-c', SMTPLIB, String(h.port), JSON.stringify(steps)]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StepResult[];
}

const msg = (subject: string, extra = '') => `From: Sender <sender@example.org>\nTo: victim@example.org\nSubject: ${subject}\nX-Remove-Me: bye\n${extra}\nbody line\n.dotted\n`;

describe('the python milter in SMTP sessions', { skip: pythonMilterMissing() }, () => {
  let dir = '';
  let sock = '';
  let events = '';
  let child: Awaited<ReturnType<typeof startFilter>> | undefined;
  let h: Harness;

  before(async () => {
    dir = tempDir('smtpd-py');
    sock = join(dir, 'py.sock');
    events = join(dir, 'events.jsonl');
    child = await startFilter(PYTHON, [join(FIXTURES, 'all_actions_milter.py'), `unix:${sock}`, events], sock);
    h = await startSmtpd({ configure: withFilters(dir, [`py, S=unix:${sock}, F=T, T=C:5s;S:5s;R:10s;E:20s`]) });
  });
  beforeEach(async () => {
    for (const { envelope } of await h.stored()) await h.queue.remove(envelope.id);
  });
  after(async () => {
    await h?.stop();
    await stopFilter(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses recipients at RCPT with the filter\'s replies, and sees sendmail\'s macros', async () => {
    writeFileSync(events, '');
    const [r] = await smtplib(h, [{ from: 'sender@example.org', to: ['reject-ml@example.org', 'plainreject@example.org', 'tempfail@example.org', 'bob@mx.example.test'], msg: msg('plain') }]);
    assert.equal(r!.ok, true);
    assert.deepEqual(r!.refused, {
      'reject-ml@example.org': [550, '5.7.1 first line\n5.7.1 second line\n5.7.1 third 100% line'],
      'plainreject@example.org': [550, '5.7.1 Command rejected'],
      'tempfail@example.org': [451, '4.3.2 Please try again later'],
    });
    const stored = await h.stored();
    assert.equal(stored.length, 1);
    assert.deepEqual(stored[0]!.envelope.recipients.map((x) => x.address), ['bob@mx.example.test']);
    const ev = readEvents(events);
    const connect = ev.find((e) => e['ev'] === 'connect')!;
    assert.equal(connect['hostname'], 'client.example.test');
    assert.deepEqual(connect['macros'], { j: 'mx.example.test', _: 'client.example.test [127.0.0.1]', '{daemon_name}': 'MTA', '{if_name}': 'localhost', '{if_addr}': '127.0.0.1' });
    const from = ev.find((e) => e['ev'] === 'envfrom')!;
    const fromMacros = from['macros'] as Record<string, string>;
    assert.equal(fromMacros['i'], stored[0]!.envelope.id, '$i is the queue id from MAIL on');
    assert.equal(fromMacros['{mail_addr}'], 'sender@example.org');
    const rcpts = ev.filter((e) => e['ev'] === 'envrcpt');
    assert.deepEqual(
      rcpts.map((e) => (e['macros'] as Record<string, string>)['{rcpt_addr}']),
      ['reject-ml@example.org', 'plainreject@example.org', 'tempfail@example.org', 'bob'],
      'the filter\'s own RCPT macro list ({rcpt_addr}): remote addresses whole, a local user by name',
    );
    const eom = ev.find((e) => e['ev'] === 'eom')!;
    assert.match((eom['macros'] as Record<string, string>)['{msg_id}'] ?? '', /^<\d{12}\.\w+@mx\.example\.test>$/, '{msg_id} is the Message-Id the MTA added');
    const headers = ev.filter((e) => e['ev'] === 'header').map((e) => e['name']);
    assert.ok(!headers.includes('Received'), 'the MTA\'s own Received: is not shown (not H_USER)');
    assert.ok(headers.includes('Subject'));
    for (const id of stored.map((s) => s.envelope.id)) await h.queue.remove(id);
  });

  it('applies header, recipient, sender and body changes to what is queued', async () => {
    const [r] = await smtplib(h, [{ from: 'sender@example.org', to: ['victim@example.test', 'bob@mx.example.test'], msg: msg('modify') }]);
    assert.equal(r!.ok, true, JSON.stringify(r));
    const stored = await h.stored();
    assert.equal(stored.length, 1);
    const { envelope, text } = stored[0]!;
    assert.equal(envelope.sender, 'new-sender@example.test');
    assert.equal(envelope.bodyType, '8BITMIME');
    assert.deepEqual(envelope.recipients.map((x) => x.address), ['bob@mx.example.test', 'extra@example.test', 'dsn@example.test']);
    assert.deepEqual(envelope.recipients[2]!.notify, { never: true, success: false, failure: false, delay: false });
    const [head, body] = text.split('\n\n');
    assert.equal(body, 'replaced line one\nreplaced line two\n', 'one filter\'s replacebody calls make one body, CR LF stored as LF');
    const fields = parseHeaderBlock(head! + '\n');
    assert.equal(fields[0]!.name, 'X-Inserted', 'insheader at 0 goes above our Received:');
    assert.equal(fields[1]!.name, 'Received');
    assert.equal(fields.find((f) => f.name === 'Subject')?.value, ' modified subject');
    assert.equal(fields.find((f) => f.name === 'X-Added')?.value, ' added value');
    assert.ok(!fields.some((f) => f.name === 'X-Remove-Me'));
    assert.ok(h.sink.messages().some((m) => m.includes('Milter (py) delete: rcpt <victim@example.test>')));
    await h.queue.remove(envelope.id);
  });

  it('quarantines: the message is held in the queue, mailq shows why, queue runs skip it', async () => {
    const [r, refused] = await smtplib(h, [
      { from: 'sender@example.org', to: ['bob@mx.example.test'], msg: msg('quarantine') },
      { from: 'sender@example.org', to: ['bob@mx.example.test'], msg: msg('eomreject') },
    ]);
    assert.equal(r!.ok, true);
    assert.deepEqual(refused, { ok: false, code: 554, text: '5.7.0 not this message\n5.7.0 really not' });
    const stored = await h.stored();
    assert.equal(stored.length, 1, 'the refused message is not queued');
    const e = stored[0]!.envelope;
    assert.equal(e.quarantine, 'held by the test');
    const listing = formatMailq([{ label: h.queue.dir, entries: mailqEntries(h.queue.dir, [e]) }], false);
    // addresses as they came over SMTP, in their angle brackets, as sendmail's mailq shows them
    assert.match(listing, new RegExp(`\\n *${e.id} +\\d+ .{16} <sender@example\\.org>\\n     QUARANTINE: held by the test\\n\\t+ <bob@mx\\.example\\.test>\\n`));

    const runLog = new MemorySink();
    const runner = new QueueRunner({
      queue: h.queue,
      config: h.config,
      identity: IDENTITY,
      log: new Logger({ sink: runLog, logLevel: 9 }),
      deliverLocal: async () => ({ status: 'sent', dsn: '2.1.5', text: 'Sent' }),
      returnToSender: async () => 0,
    });
    assert.equal((await runner.runOnce()).attempted, 0, 'a queue run leaves a quarantined message alone');
    // sendmail -Q -qQheld: the quarantined messages whose reason contains "held" lose it
    const release = { interval: 0, foreground: false, persistent: false, group: undefined, byId: [], byRecipient: [], bySender: [], byQuarantine: [{ pattern: 'held', negate: false }], items: 'quarantined' as const };
    assert.equal(quarantineTarget(e, { ...release, byQuarantine: [{ pattern: 'other', negate: false }] }), false);
    assert.equal(quarantineTarget(e, { ...release, items: 'normal' }), false);
    assert.equal(quarantineTarget(e, release), true);
    await h.queue.update(e.id, { quarantine: null });
    assert.equal(h.queue.read(e.id)?.quarantine, undefined);
    const second = await runner.runOnce();
    // (no user bob on the machine running the tests: the attempt itself is what counts)
    assert.equal(second.attempted, 1, 'released, the next run takes it');
    assert.ok(runLog.messages().some((l) => l.startsWith(`${e.id}: to=<bob@mx.example.test>`)), runLog.messages().join('\n'));
    if (h.queue.read(e.id) !== undefined) await h.queue.remove(e.id);
  });

  it('RSET aborts the filters\' transaction', async () => {
    writeFileSync(events, '');
    const r = await run(SMTP_PYTHON, [
      '-c',
      `import smtplib,sys\ns=smtplib.SMTP('127.0.0.1',int(sys.argv[1]))\ns.ehlo('c.example.test')\ns.mail('a@example.org')\nprint(s.rset()[0])\ns.quit()`,
      String(h.port),
    ]);
    assert.equal(r.stdout.trim(), '250', r.stderr);
    const ev = readEvents(events).map((e) => e['ev']);
    assert.deepEqual(ev.slice(0, 4), ['connect', 'helo', 'envfrom', 'abort']);
  });
});

describe('a filter that cannot be reached', () => {
  it('F=T: MAIL is answered 451 4.3.2 and the log says why', async () => {
    const dir = tempDir('dead');
    const h = await startSmtpd({ configure: withFilters(dir, [`dead, S=unix:${join(dir, 'none.sock')}, F=T, T=C:2s`]) });
    try {
      const [r] = await smtplib(h, [{ from: 'a@example.org', to: ['bob@mx.example.test'], msg: 'Subject: x\n\nx\n' }]);
      assert.deepEqual(r, { ok: false, code: 451, text: '4.3.2 Please try again later' });
      const log = h.sink.messages().join('\n');
      assert.match(log, /Milter \(dead\): local socket name \/tmp\/.*\/none\.sock unsafe/);
      assert.match(log, /Milter: initialization failed, temp failing commands/);
      assert.equal((await h.stored()).length, 0);
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a daemon\'s I= list replaces InputMailFilters: the dead F=T filter is not used there', async () => {
    const dir = tempDir('idaemon');
    const both = withFilters(dir, [`dead, S=unix:${join(dir, 'none.sock')}, F=T, T=C:2s`, `other, S=unix:${join(dir, 'other.sock')}, T=C:2s`]);
    const h = await startSmtpd({
      configure: (config) => {
        both(config);
        config.options.InputMailFilters = ['dead'];
        config.options.DaemonPortOptions.find((d) => d.Name === 'MTA')!.InputMailFilters = ['other'];
      },
    });
    try {
      const [r] = await smtplib(h, [{ from: 'a@example.org', to: ['bob@mx.example.test'], msg: 'Subject: x\n\nx\n' }]);
      assert.deepEqual(r, { ok: true, refused: {} });
      const log = h.sink.messages().join('\n');
      assert.match(log, /Milter \(other\): local socket name/);
      assert.doesNotMatch(log, /Milter \(dead\)/);
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no filter for a listener: no chain is opened', () => {
    const dir = tempDir('nocost');
    try {
      const config = milterConfig(dir, ['declared, S=unix:/nowhere.sock, F=T']);
      const daemon = { InputMailFilters: null };
      assert.equal(usesMilters(config, daemon), true);
      config.options.InputMailFilters = [];
      assert.equal(usesMilters(config, daemon), false, 'declared but not listed: not used');
      assert.equal(usesMilters(config, { InputMailFilters: ['declared'] }), true, 'named by I=');
      assert.equal(usesMilters(config, { InputMailFilters: ['undeclared'] }), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no F=: the filter is left out and mail flows', async () => {
    const dir = tempDir('skip');
    const h = await startSmtpd({ configure: withFilters(dir, [`skipme, S=unix:${join(dir, 'none.sock')}, T=C:2s`]) });
    try {
      const [r] = await smtplib(h, [{ from: 'a@example.org', to: ['bob@mx.example.test'], msg: 'Subject: x\n\nx\n' }]);
      assert.deepEqual(r, { ok: true, refused: {} });
      assert.equal((await h.stored()).length, 1);
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const OPENDKIM = '/usr/sbin/opendkim';
const GENKEY = '/usr/sbin/opendkim-genkey';
const dkimSkip = existsSync(OPENDKIM) && existsSync(GENKEY) ? false : 'opendkim is not installed (apt-get install opendkim opendkim-tools)';

describe('opendkim signs what the engine queues', { skip: dkimSkip }, () => {
  it('smtplib → engine with opendkim (sign) → queue; opendkim (verify) passes the queued message, and fails it once changed', async () => {
    const dir = safeTempDir('smtpd-dkim');
    const filters: Array<Awaited<ReturnType<typeof startFilter>>> = [];
    let h: Harness | undefined;
    let v: Harness | undefined;
    try {
      const g = spawnSync(GENKEY, ['-D', dir, '-d', 'example.test', '-s', 'test', '-b', '2048'], { encoding: 'utf8' });
      assert.equal(g.status, 0, g.stderr);
      const zone = readFileSync(join(dir, 'test.txt'), 'utf8');
      writeFileSync(join(dir, 'keys'), `test._domainkey.example.test ${[...zone.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('')}\n`);
      const conf = (name: string, lines: string[]) => {
        writeFileSync(join(dir, `${name}.conf`), [`Socket local:${join(dir, `${name}.sock`)}`, 'Background no', 'Syslog no', 'Canonicalization relaxed/simple', ...lines, ''].join('\n'));
        return join(dir, `${name}.conf`);
      };
      const sign = conf('sign', ['Mode s', 'Domain example.test', 'Selector test', `KeyFile ${join(dir, 'test.private')}`]);
      const verify = conf('verify', ['Mode v', `TestPublicKeys ${join(dir, 'keys')}`, 'AuthservID mx.example.test']);
      filters.push(await startFilter(OPENDKIM, ['-f', '-x', sign], join(dir, 'sign.sock')));
      filters.push(await startFilter(OPENDKIM, ['-f', '-x', verify], join(dir, 'verify.sock')));
      h = await startSmtpd({ configure: withFilters(dir, [`dkim, S=local:${join(dir, 'sign.sock')}, F=T, T=E:30s`]) });
      const message = 'From: Alice <alice@example.test>\nTo: bob@mx.example.test\nSubject: signed by opendkim\nMessage-ID: <dkim.smtpd@example.test>\n\nHello Bob,\n\nsigned on its way in.\n';
      const [r] = await smtplib(h, [{ from: 'alice@example.test', to: ['bob@mx.example.test'], msg: message }]);
      assert.deepEqual(r, { ok: true, refused: {} });
      const [queued] = await h.stored();
      assert.match(queued!.text, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/simple; d=example\.test;\s+s=test;/);

      // the queued text as the next hop receives it, through a second engine whose filter verifies
      v = await startSmtpd({ configure: withFilters(dir, [`dkimv, S=local:${join(dir, 'verify.sock')}, F=T, T=E:30s`]) });
      const relay = async (text: string) => {
        await smtplib(v!, [{ from: 'alice@example.test', to: ['bob@mx.example.test'], msg: text }]);
        const all = await v!.stored();
        const last = all[all.length - 1]!;
        await v!.queue.remove(last.envelope.id);
        return /^Authentication-Results: mx\.example\.test;\s+dkim=(\w+)/m.exec(last.text)?.[1];
      };
      assert.equal(await relay(queued!.text), 'pass');
      assert.equal(await relay(queued!.text.replace('signed on its way in', 'forged on its way in')), 'fail');
    } finally {
      await h?.stop();
      await v?.stop();
      for (const f of filters) await stopFilter(f);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
