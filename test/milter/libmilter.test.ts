/**
 * A filter built in the test from libmilter-dev (fixtures/logmsg_milter.c,
 * a small sample that writes each message to a file) receives two messages
 * of one session and logs them; an aborted transaction leaves no file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MilterChain } from '../../src/milter/index.js';
import { FIXTURES, memoryLogger, milterConfig, parseHeaderBlock, startFilter, stopFilter, tempDir } from './helpers.js';

const skip = existsSync('/usr/include/libmilter/mfapi.h') ? false : 'libmilter-dev is not installed (apt-get install libmilter-dev)';

describe('a libmilter C filter', { skip }, () => {
  let dir = '';
  let out = '';
  let child: Awaited<ReturnType<typeof startFilter>> | undefined;

  before(async () => {
    dir = tempDir('libmilter');
    out = join(dir, 'out');
    const bin = join(dir, 'logmsg_milter');
    const cc = spawnSync('cc', ['-O', '-Wall', '-o', bin, join(FIXTURES, 'logmsg_milter.c'), '-lmilter', '-lpthread'], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    spawnSync('mkdir', [out]);
    child = await startFilter(bin, ['-p', `unix:${join(dir, 'logmsg.sock')}`, '-d', out], join(dir, 'logmsg.sock'));
  });
  after(async () => {
    await stopFilter(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('receives and logs each message', async () => {
    const config = milterConfig(dir, [`logmsg, S=unix:${join(dir, 'logmsg.sock')}, F=T`]);
    const { log, sink } = memoryLogger();
    let qid = 'QIDLIB0001';
    const chain = await MilterChain.open({ config, log, macros: (n) => (n === 'i' ? qid : n === 'j' ? 'mx.example.test' : undefined) });
    assert.equal((await chain.connect({ hostname: 'client.example.test', family: 'inet', port: 2525, address: '192.0.2.7' })).action, 'continue');
    assert.equal((await chain.helo('client.example.test')).action, 'continue');

    const send = async (subject: string, body: string) => {
      chain.logId = qid;
      assert.equal((await chain.envfrom(['<alice@example.test>', 'BODY=8BITMIME'])).action, 'continue');
      assert.equal((await chain.envrcpt(['<bob@example.test>'])).action, 'continue');
      assert.equal((await chain.data()).action, 'continue');
      const b = Buffer.from(body);
      return chain.message({
        headers: parseHeaderBlock(`From: alice@example.test\nSubject: ${subject}\n`),
        body: async function* () {
          yield b;
        },
      });
    };
    const first = await send('first', 'one\ntwo\n');
    qid = 'QIDLIB0002';
    // an aborted transaction (RSET) in between
    await chain.envfrom(['<carol@example.test>']);
    await chain.abort();
    const second = await send('second', 'three\n');
    await chain.close();

    for (const o of [first, second]) {
      assert.equal(o.action, 'accept', sink.messages().join('\n'));
      assert.equal(o.modifications.length, 1);
      assert.equal(o.headers.at(-1)!.name, 'X-Logged');
    }
    const files = readdirSync(out).sort((a, b) => Number(a.split('.').at(-1)) - Number(b.split('.').at(-1)));
    assert.equal(files.length, 2, files.join(' '));
    assert.equal(first.headers.at(-1)!.value, ' ' + files[0]);
    assert.equal(
      readFileSync(join(out, files[0]!), 'latin1'),
      'QUEUE-ID: QIDLIB0001\nFROM: <alice@example.test>\nRCPT: <bob@example.test>\nFrom: alice@example.test\nSubject: first\n\none\r\ntwo\r\n',
    );
    assert.equal(
      readFileSync(join(out, files[1]!), 'latin1'),
      'QUEUE-ID: QIDLIB0002\nFROM: <alice@example.test>\nRCPT: <bob@example.test>\nFrom: alice@example.test\nSubject: second\n\nthree\r\n',
    );
  });
});
