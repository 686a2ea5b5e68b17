/**
 * Filters that cannot be reached, hang or die, with each F= (none: go on
 * without the filter, T: tempfail, R: reject) and the T= timeouts.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MilterChain, type MilterHeader } from '../../src/milter/index.js';
import {
  FIXTURES,
  macroTable,
  memoryLogger,
  milterConfig,
  parseHeaderBlock,
  PYTHON,
  pythonMilterMissing,
  startFilter,
  stopFilter,
  tempDir,
} from './helpers.js';

const MACROS = macroTable({ j: 'mx.example.test' });

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function open(dir: string, xLine: string) {
  const config = milterConfig(dir, [xLine], ['Milter.LogLevel=9']);
  const { log, sink } = memoryLogger();
  const chain = await MilterChain.open({ config, log, macros: MACROS });
  return { chain, lines: () => sink.messages() };
}

describe('a filter that cannot be reached', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const d = tempDir('unreach');
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('F=T: temp fails commands, with sendmail log lines', async () => {
    const dir = scratch();
    const port = await closedPort();
    const { chain, lines } = await open(dir, `tfail, S=inet:${port}@127.0.0.1, F=T`);
    assert.deepEqual(chain.initOutcome, { action: 'tempfail', reply: { code: 451, status: '4.3.2', text: 'Please try again later' } });
    assert.equal(chain.active, false);
    assert.deepEqual(lines(), [
      'NOQUEUE: Milter (tfail): error connecting to filter: Connection refused by 127.0.0.1',
      'NOQUEUE: Milter (tfail): to error state',
      'NOQUEUE: Milter: initialization failed, temp failing commands',
    ]);
    assert.equal(chain.filters[0]!.error?.code, 'MILTER_CONNECT_FAILED');
  });

  it('F=R: rejects commands; a missing Unix socket is "unsafe"', async () => {
    const dir = scratch();
    const { chain, lines } = await open(dir, `rfail, S=unix:${dir}/none.sock, F=R`);
    assert.deepEqual(chain.initOutcome, { action: 'reject', reply: { code: 550, status: '5.0.0', text: 'Command rejected' } });
    assert.equal(lines()[0], `NOQUEUE: Milter (rfail): local socket name ${dir}/none.sock unsafe`);
    assert.equal(lines()[2], 'NOQUEUE: Milter: initialization failed, rejecting commands');
  });

  it('F=4: closes the connection with 421', async () => {
    const dir = scratch();
    const { chain } = await open(dir, `drop, S=unix:${dir}/none.sock, F=4`);
    assert.deepEqual(chain.initOutcome, { action: 'shutdown', reply: { code: 421, status: '4.7.0', text: 'mx.example.test closing connection' } });
  });

  it('no F=: the session goes on without it', async () => {
    const dir = scratch();
    const { chain, lines } = await open(dir, `skipme, S=unix:${dir}/none.sock`);
    assert.equal(chain.initOutcome.action, 'continue');
    assert.equal((await chain.connect({ hostname: 'h', family: 'inet', port: 1, address: '127.0.0.1' })).action, 'continue');
    assert.equal((await chain.envfrom(['<a@example.test>'])).action, 'continue');
    assert.equal(lines().length, 2);
  });
});

function headers(): MilterHeader[] {
  return parseHeaderBlock('Subject: plain\nFrom: a@example.test\n');
}

describe('a filter that hangs or dies', { skip: pythonMilterMissing() }, () => {
  async function withFilter(mode: string, flags: string, timeouts: string, run: (chain: MilterChain, lines: () => string[]) => Promise<void>) {
    const dir = tempDir(mode);
    const sock = join(dir, 'f.sock');
    const child = await startFilter(PYTHON, [join(FIXTURES, 'all_actions_milter.py'), `unix:${sock}`, join(dir, 'ev'), mode], sock);
    try {
      const { chain, lines } = await open(dir, `bad, S=unix:${sock}${flags === '' ? '' : `, F=${flags}`}, T=${timeouts}`);
      assert.equal(chain.initOutcome.action, 'continue');
      await chain.connect({ hostname: 'h', family: 'inet', port: 1, address: '127.0.0.1' });
      await chain.helo('h');
      chain.logId = 'QIDHANG01';
      assert.equal((await chain.envfrom(['<a@example.test>'])).action, 'continue');
      await run(chain, lines);
      await chain.close();
    } finally {
      await stopFilter(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('hangs at RCPT, F=T: R= bounds the wait, then 451', async () => {
    await withFilter('hang-rcpt', 'T', 'R:1s', async (chain, lines) => {
      const t0 = Date.now();
      const o = await chain.envrcpt(['<b@example.test>']);
      const took = Date.now() - t0;
      assert.deepEqual(o, { action: 'tempfail', reply: { code: 451, status: '4.3.2', text: 'Please try again later' } });
      assert.ok(took >= 900 && took < 4000, `took ${took} ms`);
      assert.ok(lines().includes('QIDHANG01: Milter (bad): timeout before data read, where=rcpt'), lines().join('\n'));
      assert.ok(lines().includes('QIDHANG01: Milter (bad): to error state'));
      // the filter stays in its error state: every later step is temp failed too
      assert.equal((await chain.data()).action, 'tempfail');
    });
  });

  it('hangs at RCPT, F=R: 550 5.7.1 Command rejected', async () => {
    await withFilter('hang-rcpt', 'R', 'R:1s', async (chain) => {
      assert.deepEqual(await chain.envrcpt(['<b@example.test>']), { action: 'reject', reply: { code: 550, status: '5.7.1', text: 'Command rejected' } });
    });
  });

  it('hangs at RCPT, no F=: the mail goes on without the filter', async () => {
    await withFilter('hang-rcpt', '', 'R:1s', async (chain) => {
      assert.equal((await chain.envrcpt(['<b@example.test>'])).action, 'continue');
      assert.equal((await chain.data()).action, 'continue');
      const o = await chain.message({ headers: headers(), body: async function* () {} });
      assert.equal(o.action, 'accept');
      assert.equal(o.modifications.length, 0);
    });
  });

  it('dies at RCPT, F=T: 451, logged as sendmail logs a lost filter', async () => {
    await withFilter('die-rcpt', 'T', 'R:5s', async (chain, lines) => {
      assert.equal((await chain.envrcpt(['<b@example.test>'])).action, 'tempfail');
      assert.ok(lines().includes('QIDHANG01: milter_sys_read(bad): cmd read returned 0, expecting 5'), lines().join('\n'));
      assert.equal(chain.filters[0]!.state, 'error');
    });
  });

  it('dies at RCPT, no F=: continue', async () => {
    await withFilter('die-rcpt', '', 'R:5s', async (chain) => {
      assert.equal((await chain.envrcpt(['<b@example.test>'])).action, 'continue');
    });
  });

  it('hangs at end of message: E= bounds the whole wait even when R= is longer; F=R gives 554', async () => {
    await withFilter('hang-eom', 'R', 'R:30s;E:2s', async (chain, lines) => {
      assert.equal((await chain.envrcpt(['<b@example.test>'])).action, 'continue');
      assert.equal((await chain.data()).action, 'continue');
      const t0 = Date.now();
      const o = await chain.message({
        headers: headers(),
        body: async function* () {
          yield Buffer.from('hello\n');
        },
      });
      const took = Date.now() - t0;
      assert.equal(o.action, 'reject');
      assert.deepEqual(o.reply, { code: 554, status: '5.7.1', text: 'Command rejected' });
      assert.ok(took >= 1800 && took < 6000, `took ${took} ms`);
      assert.ok(lines().some((l) => l.startsWith('QIDHANG01: Milter (bad): timeout') && l.endsWith('where=eom')), lines().join('\n'));
    });
  });

  it('dies at end of message, F=T: 451', async () => {
    await withFilter('die-eom', 'T', 'R:5s', async (chain) => {
      await chain.envrcpt(['<b@example.test>']);
      await chain.data();
      const o = await chain.message({ headers: headers(), body: async function* () {} });
      assert.equal(o.action, 'tempfail');
      assert.deepEqual(o.reply, { code: 451, status: '4.3.2', text: 'Please try again later' });
    });
  });
});
