/**
 * Every action and every reply, against a real libmilter filter
 * (python3-milter, test/milter/fixtures/all_actions_milter.py) on a Unix
 * socket of the test's own.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyModifications, MilterChain, type MilterHeader } from '../../src/milter/index.js';
import {
  bodyText,
  FIXTURES,
  macroTable,
  memoryLogger,
  milterConfig,
  parseHeaderBlock,
  PYTHON,
  pythonMilterMissing,
  readEvents,
  smtpPass,
  startFilter,
  stopFilter,
  tempDir,
} from './helpers.js';

const skip = pythonMilterMissing();

const MACROS = macroTable({
  j: 'mx.example.test',
  _: 'client.example.test [127.0.0.1]',
  daemon_name: 'MTA',
  if_name: 'localhost',
  if_addr: '127.0.0.1',
  i: 'QID000001',
  mail_addr: 'sender@example.test',
  rcpt_addr: 'victim@example.test',
  rcpt_host: 'example.test',
  msg_id: '<m1@example.test>',
  my_macro: 'mine',
});

function message(subject: string): MilterHeader[] {
  return [
    ...parseHeaderBlock('Received: from client.example.test\n\tby mx.example.test; Sat, 22 Nov 2025 10:00:00 +0000\n', true),
    ...parseHeaderBlock(`From: Sender <sender@example.test>\nTo: victim@example.test\nSubject: ${subject}\nX-Remove-Me: bye\n`),
  ];
}

describe('python3-milter: every action and reply', { skip }, () => {
  let dir = '';
  let sock = '';
  let events = '';
  let child: Awaited<ReturnType<typeof startFilter>> | undefined;

  before(async () => {
    dir = tempDir('py');
    sock = join(dir, 'py.sock');
    events = join(dir, 'events.jsonl');
    child = await startFilter(PYTHON, [join(FIXTURES, 'all_actions_milter.py'), `unix:${sock}`, events], sock);
  });
  after(async () => {
    await stopFilter(child);
    rmSync(dir, { recursive: true, force: true });
  });

  function chainFor(extra: string[] = []) {
    const config = milterConfig(dir, [`allactions, S=unix:${sock}, F=T, T=C:5s;S:5s;R:5s;E:10s`], [
      'Milter.macros.envrcpt={rcpt_addr}, {rcpt_host}',
      'Milter.macros.eom={msg_id}',
      ...extra,
    ]);
    const { log, sink } = memoryLogger();
    return { open: () => MilterChain.open({ config, log, macros: MACROS }), sink };
  }

  it('sends every step with its macros, and applies every change', async () => {
    writeFileSync(events, '');
    const { open, sink } = chainFor();
    const chain = await open();
    assert.equal(chain.initOutcome.action, 'continue');
    const headers = message('modify');
    const pass = await smtpPass(chain, {
      helo: 'client.example.test',
      from: ['<sender@example.test>', 'SIZE=42', 'BODY=8BITMIME'],
      rcpts: [['<victim@example.test>'], ['<keep@example.test>', 'NOTIFY=SUCCESS']],
      headers,
      body: 'line 1\nline 2\n',
      envelope: true,
    });
    await chain.close();
    const ev = readEvents(events);
    const byKind = (k: string) => ev.filter((e) => e['ev'] === k);

    const connect = byKind('connect')[0]!;
    assert.equal(connect['hostname'], 'client.example.test');
    assert.deepEqual(connect['hostaddr'], ['127.0.0.1', 40123]);
    assert.deepEqual(connect['macros'], {
      j: 'mx.example.test',
      _: 'client.example.test [127.0.0.1]',
      '{daemon_name}': 'MTA',
      '{if_name}': 'localhost',
      '{if_addr}': '127.0.0.1',
    });
    assert.equal(byKind('helo')[0]!['name'], 'client.example.test');
    const from = byKind('envfrom')[0]!;
    assert.equal(from['sender'], '<sender@example.test>');
    assert.deepEqual(from['params'], ['SIZE=42', 'BODY=8BITMIME']);
    assert.equal((from['macros'] as Record<string, string>)['i'], 'QID000001');
    assert.equal((from['macros'] as Record<string, string>)['{mail_addr}'], 'sender@example.test');
    const rcpts = byKind('envrcpt');
    assert.deepEqual(rcpts.map((r) => r['rcpt']), ['<victim@example.test>', '<keep@example.test>']);
    assert.deepEqual(rcpts[1]!['params'], ['NOTIFY=SUCCESS']);
    // the filter's own list (setsymlist) replaces Milter.macros.envrcpt: {my_macro} yes, {rcpt_host} no
    const rcptMacros = rcpts[0]!['macros'] as Record<string, string>;
    assert.equal(rcptMacros['{my_macro}'], 'mine');
    assert.equal(rcptMacros['{rcpt_addr}'], 'victim@example.test');
    assert.equal(rcptMacros['{rcpt_host}'], undefined);
    assert.equal(byKind('data').length, 1);
    // the MTA's own Received: is not shown; values lose the space after the colon
    assert.deepEqual(
      byKind('header').map((h) => [h['name'], h['value']]),
      [
        ['From', 'Sender <sender@example.test>'],
        ['To', 'victim@example.test'],
        ['Subject', 'modify'],
        ['X-Remove-Me', 'bye'],
      ],
    );
    assert.equal(byKind('eoh').length, 1);
    assert.deepEqual(byKind('body').map((b) => [b['size'], b['crlf'], b['bare_lf']]), [[16, 2, 0]]);
    assert.equal((byKind('eom')[0]!['macros'] as Record<string, string>)['{msg_id}'], '<m1@example.test>');

    const o = pass.message!;
    assert.equal(o.action, 'accept');
    assert.deepEqual(
      o.modifications.map((m) => m.kind),
      ['addheader', 'insheader', 'chgheader', 'chgheader', 'addrcpt', 'addrcpt', 'delrcpt', 'chgfrom', 'replbody'],
    );
    assert.deepEqual(
      o.headers.map((h) => `${h.name}:${h.value}`),
      [
        'X-Inserted: at the top',
        'Received: from client.example.test\n\tby mx.example.test; Sat, 22 Nov 2025 10:00:00 +0000',
        'From: Sender <sender@example.test>',
        'To: victim@example.test',
        'Subject: modified subject',
        'X-Added: added value',
      ],
    );
    assert.deepEqual(o.envelope, {
      sender: 'new-sender@example.test',
      senderArgs: 'BODY=8BITMIME',
      recipients: [{ address: 'keep@example.test' }, { address: 'extra@example.test' }, { address: 'dsn@example.test', args: 'NOTIFY=NEVER' }],
    });
    assert.equal(await bodyText(o.body!.read()), 'replaced line one\nreplaced line two\n');

    // the pure helper gives the same message from the original and the list of changes
    const again = applyModifications(
      headers,
      (async function* () {
        yield Buffer.from('line 1\nline 2\n');
      })(),
      { sender: 'sender@example.test', recipients: [{ address: 'victim@example.test' }, { address: 'keep@example.test' }] },
      o.modifications,
    );
    assert.deepEqual(again.headers, o.headers);
    assert.deepEqual(again.envelope, o.envelope);
    assert.equal(await bodyText(again.body), 'replaced line one\nreplaced line two\n');
    await o.body!.dispose();

    const logs = sink.messages().join('\n');
    assert.match(logs, /Milter \(allactions\): init success to negotiate/);
    assert.match(logs, /QID000001: Milter \(allactions\) add: header: X-Added: added value/);
    assert.match(logs, /Milter accept: message/);
  });

  it('answers refusals with the replies sendmail gives', async () => {
    writeFileSync(events, '');
    const { open, sink } = chainFor();
    const chain = await open();
    await chain.connect({ hostname: 'client.example.test', family: 'inet', port: 1, address: '127.0.0.1' });
    assert.equal((await chain.helo('client.example.test')).action, 'continue');
    chain.logId = 'QID000002';

    assert.deepEqual(await chain.envfrom(['<rejectmail@example.test>']), {
      action: 'reject',
      reply: { code: 553, status: '5.7.9', text: 'sender refused here' },
    });
    assert.equal((await chain.envfrom(['<sender@example.test>'])).action, 'continue');
    assert.deepEqual(await chain.envrcpt(['<tempfail@example.test>']), {
      action: 'tempfail',
      reply: { code: 451, status: '4.3.2', text: 'Please try again later' },
    });
    assert.deepEqual(await chain.envrcpt(['<reject-ml@example.test>']), {
      action: 'reject',
      reply: { code: 550, status: '5.7.1', text: 'first line\nsecond line\nthird 100% line' },
    });
    assert.deepEqual(await chain.envrcpt(['<plainreject@example.test>']), {
      action: 'reject',
      reply: { code: 550, status: '5.7.1', text: 'Command rejected' },
    });
    assert.deepEqual(await chain.unknown('XFOO bar'), { action: 'reject', reply: { code: 550, status: '5.7.1', text: 'Command rejected' } });
    assert.equal((await chain.envrcpt(['<discard@example.test>'])).action, 'discard');
    // a discarded transaction goes no further to the filter
    assert.equal((await chain.data()).action, 'discard');
    const discarded = await chain.message({ headers: message('x'), body: async function* () {} });
    assert.equal(discarded.action, 'discard');

    const eom = async (subject: string, body = 'text\n') => {
      assert.equal((await chain.envfrom(['<sender@example.test>'])).action, 'continue');
      assert.equal((await chain.envrcpt(['<ok@example.test>'])).action, 'continue');
      assert.equal((await chain.data()).action, 'continue');
      const b = Buffer.from(body);
      return chain.message({
        headers: message(subject),
        body: async function* () {
          yield b;
        },
      });
    };
    const rejected = await eom('eomreject');
    assert.equal(rejected.action, 'reject');
    assert.deepEqual(rejected.reply, { code: 554, status: '5.7.0', text: 'not this message\nreally not' });
    assert.deepEqual((await eom('eomtempfail')).reply, { code: 451, status: '4.3.2', text: 'Please try again later' });
    assert.equal((await eom('eomdiscard')).action, 'discard');
    const held = await eom('quarantine');
    assert.equal(held.action, 'quarantine');
    assert.equal(held.quarantine, 'held by the test');

    // a big body goes in chunks of at most 65535 bytes; SKIP stops it after the first, EOM still comes
    const big = 'x'.repeat(99) + '\n';
    writeFileSync(events, '');
    assert.equal((await eom('plain', big.repeat(2000))).action, 'accept');
    let sizes = readEvents(events).filter((e) => e['ev'] === 'body').map((e) => e['size'] as number);
    // 2000 lines of 100 bytes, each LF sent as CR LF: 202000 bytes
    assert.deepEqual(sizes, [65535, 65535, 65535, 202000 - 3 * 65535]);
    writeFileSync(events, '');
    assert.equal((await eom('skip', big.repeat(2000))).action, 'accept');
    sizes = readEvents(events).filter((e) => e['ev'] === 'body').map((e) => e['size'] as number);
    assert.deepEqual(sizes, [65535]);
    assert.equal(readEvents(events).filter((e) => e['ev'] === 'eom').length, 1);

    const down = await eom('shutdown');
    assert.equal(down.action, 'shutdown');
    assert.deepEqual(down.reply, { code: 421, status: '4.7.0', text: 'going away' });
    await chain.close();

    const logs = sink.messages();
    assert.ok(logs.includes('QID000002: Milter: to=<tempfail@example.test>, reject=451 4.3.2 Please try again later'), logs.join('\n'));
    assert.ok(logs.includes('QID000002: Milter: to=<plainreject@example.test>, reject=550 5.7.1 Command rejected'));
    assert.ok(logs.includes('QID000002: Milter: to=<discard@example.test>, discard'));
    assert.ok(logs.includes('QID000002: milter=allactions, quarantine=held by the test'));
  });

  it('takes the filters out for the session when HELO is refused', async () => {
    const { open } = chainFor();
    const chain = await open();
    await chain.connect({ hostname: 'h', family: 'inet6', port: 2, address: '::1' });
    const o = await chain.helo('reject.helo.test');
    assert.deepEqual(o, { action: 'reject', reply: { code: 550, status: '5.0.0', text: 'Command rejected' } });
    assert.equal(chain.active, false);
    assert.equal((await chain.envfrom(['<a@b>'])).action, 'continue');
    await chain.close();
  });
});
