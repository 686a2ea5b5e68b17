/**
 * opendkim, Debian's, run in the foreground by the test on sockets of its
 * own: one instance signs with a key made by opendkim-genkey, a second one
 * (Mode v, the public key given with TestPublicKeys, so no DNS) verifies,
 * both as a chain (the verifier after the signer sees the signer's header,
 * as in sendmail) and on the message as it would be queued.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyModifications, MilterChain, type MilterHeader } from '../../src/milter/index.js';
import { bodyText, macroTable, memoryLogger, milterConfig, parseHeaderBlock, smtpPass, safeTempDir, startFilter, stopFilter } from './helpers.js';

const OPENDKIM = '/usr/sbin/opendkim';
const GENKEY = '/usr/sbin/opendkim-genkey';
const skip = existsSync(OPENDKIM) && existsSync(GENKEY) ? false : 'opendkim is not installed (apt-get install opendkim opendkim-tools)';

const MACROS = macroTable({
  j: 'mx.example.test',
  _: 'localhost [127.0.0.1]',
  daemon_name: 'MTA',
  i: 'QIDDKIM01',
  mail_addr: 'alice@example.test',
});

const BODY = 'Hello Bob,\n\nthis message is signed.\n.leading dot and trailing space \n';

function headers(): MilterHeader[] {
  return [
    ...parseHeaderBlock('Received: from localhost (localhost [127.0.0.1])\n\tby mx.example.test (Postern) id QIDDKIM01;\n\tSat, 22 Nov 2025 10:00:00 +0000\n', true),
    ...parseHeaderBlock(
      'From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: a signed\n message\nDate: Sat, 22 Nov 2025 10:00:00 +0000\nMessage-Id: <dkim1@example.test>\n',
    ),
  ];
}

function opendkimConf(dir: string, name: string, lines: string[]): string {
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, [`Socket local:${join(dir, `${name}.sock`)}`, 'Background no', 'Syslog no', 'Canonicalization relaxed/simple', ...lines, ''].join('\n'));
  return path;
}

describe('opendkim', { skip }, () => {
  let dir = '';
  let signer: Awaited<ReturnType<typeof startFilter>> | undefined;
  let verifier: Awaited<ReturnType<typeof startFilter>> | undefined;

  before(async () => {
    dir = safeTempDir('dkim');
    const g = spawnSync(GENKEY, ['-D', dir, '-d', 'example.test', '-s', 'test', '-b', '2048'], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    // the TXT record as one line: "test._domainkey.example.test v=DKIM1; k=rsa; p=..."
    const zone = readFileSync(join(dir, 'test.txt'), 'utf8');
    const txt = [...zone.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
    writeFileSync(join(dir, 'keys'), `test._domainkey.example.test ${txt}\n`);
    const sign = opendkimConf(dir, 'sign', ['Mode s', 'Domain example.test', 'Selector test', `KeyFile ${join(dir, 'test.private')}`]);
    const verify = opendkimConf(dir, 'verify', ['Mode v', `TestPublicKeys ${join(dir, 'keys')}`, 'AuthservID mx.example.test']);
    signer = await startFilter(OPENDKIM, ['-f', '-x', sign], join(dir, 'sign.sock'));
    verifier = await startFilter(OPENDKIM, ['-f', '-x', verify], join(dir, 'verify.sock'));
  });
  after(async () => {
    await stopFilter(signer);
    await stopFilter(verifier);
    rmSync(dir, { recursive: true, force: true });
  });

  const X = (d: string) => [`dkimsign, S=local:${join(d, 'sign.sock')}, F=T, T=C:5s;S:10s;R:10s;E:30s`, `dkimverify, S=local:${join(d, 'verify.sock')}, F=T`];

  it('signs a message fed through the chain, and the verifier after it passes the signature', async () => {
    const config = milterConfig(dir, X(dir));
    const { log, sink } = memoryLogger();
    const chain = await MilterChain.open({ config, log, macros: MACROS });
    assert.equal(chain.initOutcome.action, 'continue', sink.messages().join('\n'));
    const pass = await smtpPass(chain, {
      helo: 'localhost',
      from: ['<alice@example.test>'],
      rcpts: [['<bob@example.test>']],
      headers: headers(),
      body: BODY,
    });
    await chain.close();
    const o = pass.message!;
    assert.equal(o.action, 'accept', sink.messages().join('\n'));
    const sig = o.modifications.find((m) => (m.kind === 'insheader' || m.kind === 'addheader') && m.name === 'DKIM-Signature');
    assert.ok(sig !== undefined, JSON.stringify(o.modifications));
    assert.equal(sig.filter, 'dkimsign');
    // opendkim inserts at the top, above our Received: (the verifier's Authentication-Results above the signature)
    assert.deepEqual(o.headers.slice(0, 3).map((h) => h.name), ['Authentication-Results', 'DKIM-Signature', 'Received']);
    assert.match(o.headers[1]!.value, /d=example\.test/);
    assert.match(o.headers[1]!.value, /s=test/);
    const ar = o.headers.find((h) => h.name === 'Authentication-Results');
    assert.ok(ar !== undefined, o.headers.map((h) => h.name).join(' '));
    assert.match(ar.value, /dkim=pass/);
    assert.match(ar.value, /header\.d=example\.test/);
  });

  it('the message as queued (changes applied) verifies on its own, and a changed body fails', async () => {
    const sign = milterConfig(dir, [X(dir)[0]!]);
    const { log } = memoryLogger();
    const signChain = await MilterChain.open({ config: sign, log, macros: MACROS });
    const signed = (await smtpPass(signChain, { helo: 'localhost', from: ['<alice@example.test>'], rcpts: [['<bob@example.test>']], headers: headers(), body: BODY })).message!;
    await signChain.close();
    const queued = applyModifications(
      headers(),
      (async function* () {
        yield Buffer.from(BODY);
      })(),
      { sender: 'alice@example.test', recipients: [{ address: 'bob@example.test' }] },
      signed.modifications,
    );
    const storedBody = await bodyText(queued.body);
    // the next hop sees every stored field as the client's
    const stored = queued.headers.map((h) => ({ name: h.name, value: h.value }));

    const verifyOnly = async (body: string) => {
      const config = milterConfig(dir, [X(dir)[1]!]);
      const chain = await MilterChain.open({ config, log, macros: MACROS });
      const o = (await smtpPass(chain, { helo: 'mx.example.test', from: ['<alice@example.test>'], rcpts: [['<bob@example.test>']], headers: stored, body })).message!;
      await chain.close();
      return o.headers.find((h) => h.name === 'Authentication-Results')?.value ?? '';
    };
    assert.match(await verifyOnly(storedBody), /dkim=pass/);
    assert.match(await verifyOnly(storedBody.replace('signed', 'forged')), /dkim=fail/);
  });
});
