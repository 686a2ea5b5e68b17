/**
 * The pure parts: framing, OPTNEG decoding, macro packets, reply checks,
 * line-end conversions and sendmail's header-change rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyEnvelopeModification,
  applyHeaderModification,
  BodySpool,
  checkReplyCode,
  crlfChunks,
  CrlfToLf,
  decodeOptneg,
  encodePacket,
  macroPacketData,
  optnegData,
  parseReplyText,
  splitAddressList,
  type MilterHeader,
} from '../../src/milter/index.js';
import { bodyText } from './helpers.js';

describe('framing and negotiation', () => {
  it('writes length (command byte included), command, data', () => {
    assert.equal(encodePacket('Q').toString('hex'), '0000000151');
    assert.equal(encodePacket('H', Buffer.from('a\0')).toString('hex'), '0000000348' + '6100');
    // version 6, every action (0x1ff), every protocol step (0x1fffff)
    assert.equal(optnegData().toString('hex'), '00000006' + '000001ff' + '001fffff');
  });

  it('reads a filter\'s OPTNEG with its macro lists', () => {
    const head = Buffer.from('00000006' + '00000101' + '00000480', 'hex');
    const list = Buffer.concat([Buffer.from('00000003', 'hex'), Buffer.from('{rcpt_addr} {x}\0'), Buffer.from('00000005', 'hex'), Buffer.from('{msg_id}\0')]);
    assert.deepEqual(decodeOptneg(Buffer.concat([head, list])), {
      version: 6,
      actions: 0x101,
      protocol: 0x480,
      macros: { envrcpt: ['{rcpt_addr}', '{x}'], eom: ['{msg_id}'] },
    });
    assert.deepEqual(decodeOptneg(Buffer.alloc(8)), { error: 'did not return enough info' });
  });

  it('sends macros with values only, the command letter even when none has one', () => {
    const lookup = (n: string) => ({ j: 'mx', daemon_name: 'MTA' })[n];
    assert.equal(macroPacketData('connect', ['j', '_', '{daemon_name}'], lookup)!.toString('latin1'), 'Cj\0mx\0{daemon_name}\0MTA\0');
    assert.equal(macroPacketData('eom', ['{msg_id}'], lookup)!.toString('latin1'), 'E');
    assert.equal(macroPacketData('data', [], lookup), null);
  });
});

describe('reply codes', () => {
  it('takes a 4xx/5xx reply, else the default', () => {
    assert.equal(checkReplyCode(Buffer.from('550 5.7.1 no\0'), 'D'), '550 5.7.1 no');
    assert.equal(checkReplyCode(Buffer.from('250 ok\0'), 'D'), 'D');
    assert.equal(checkReplyCode(Buffer.from('550 100% sure\0'), 'D'), 'D');
    assert.equal(checkReplyCode(Buffer.from('550 no'), 'D'), 'D');
  });
  it('splits a multi-line reply; gives x.0.0 to one without an enhanced code', () => {
    assert.deepEqual(parseReplyText('550-5.7.1 a\r\n550-5.7.1 b\r\n550 5.7.1 100%% c'), { code: 550, status: '5.7.1', text: 'a\nb\n100% c' });
    assert.deepEqual(parseReplyText('451 later'), { code: 451, status: '4.0.0', text: 'later' });
  });
});

describe('line ends', () => {
  it('sends LF as CR LF, in chunks of at most 65535 bytes', async () => {
    const src = async function* () {
      yield Buffer.from('a\nb\r\n');
      yield Buffer.from('\nc');
    };
    const out: string[] = [];
    for await (const c of crlfChunks(src(), 3)) out.push(c.toString('latin1'));
    assert.deepEqual(out, ['a\r\n', 'b\r\n', '\r\nc']);
  });
  it('stores a replacement\'s CR LF as LF, across chunks', () => {
    const c = new CrlfToLf();
    const parts = [c.push(Buffer.from('x\r')), c.push(Buffer.from('\ny\r')), c.push(Buffer.from('z\r')), c.end()];
    assert.equal(Buffer.concat(parts).toString('latin1'), 'x\ny\rz\r');
  });
  it('spools a large body to an unlinked file and reads it twice', async () => {
    const s = new BodySpool(undefined, 10);
    await s.write(Buffer.from('0123456789'));
    await s.write(Buffer.from('abcdef'));
    const body = s.finish();
    assert.equal(body.size, 16);
    assert.equal(await bodyText(body.read()), '0123456789abcdef');
    assert.equal(await bodyText(body.read()), '0123456789abcdef');
    await body.dispose();
  });
});

describe("sendmail's header-change rules", () => {
  const base = (): MilterHeader[] => [
    { name: 'Received', value: ' by mx', generated: true },
    { name: 'Message-Id', value: ' <gen@mx>', generated: true },
    { name: 'X-A', value: ' 1' },
    { name: 'Subject', value: ' s' },
    { name: 'X-A', value: ' 2' },
  ];
  const show = (h: MilterHeader[]) => h.map((x) => `${x.name}:${x.value}`);
  const m = { filter: 'f', leadingSpace: true };

  it('addheader: before the first field of that name; a default header takes the value', () => {
    const h = base();
    applyHeaderModification(h, { ...m, kind: 'addheader', name: 'X-A', value: 'new' });
    applyHeaderModification(h, { ...m, kind: 'addheader', name: 'X-B', value: 'end' });
    applyHeaderModification(h, { ...m, kind: 'addheader', name: 'message-id', value: '<milter@x>' });
    assert.deepEqual(show(h), ['Received: by mx', 'Message-Id: <milter@x>', 'X-A: new', 'X-A: 1', 'Subject: s', 'X-A: 2', 'X-B: end']);
    assert.equal(h[1]!.generated, undefined);
  });
  it('insheader: at the index, 0 at the top; past the end appends', () => {
    const h = base();
    applyHeaderModification(h, { ...m, kind: 'insheader', index: 0, name: 'T', value: 'top' });
    applyHeaderModification(h, { ...m, kind: 'insheader', index: 99, name: 'E', value: 'end' });
    assert.deepEqual(show(h).slice(0, 2), ['T: top', 'Received: by mx']);
    assert.equal(show(h).at(-1), 'E: end');
  });
  it('chgheader: the n-th of the client\'s fields; empty deletes; missing adds', () => {
    const h = base();
    applyHeaderModification(h, { ...m, kind: 'chgheader', index: 2, name: 'x-a', value: 'two' });
    applyHeaderModification(h, { ...m, kind: 'chgheader', index: 1, name: 'Subject', value: '' });
    applyHeaderModification(h, { ...m, kind: 'chgheader', index: 1, name: 'Gone', value: '' });
    applyHeaderModification(h, { ...m, kind: 'chgheader', index: 1, name: 'New', value: 'n' });
    applyHeaderModification(h, { ...m, kind: 'chgheader', index: 5, name: 'Message-Id', value: '<c@x>', leadingSpace: false });
    assert.deepEqual(show(h), ['Received: by mx', 'Message-Id:<c@x>', 'X-A: 1', 'X-A: two', 'New: n']);
  });
});

describe('envelope changes', () => {
  it('adds (a list, without duplicates), adds with arguments, deletes, changes the sender', () => {
    let env = { sender: 'a@x', recipients: [{ address: 'b@x' }, { address: 'v@X.TEST' }] };
    env = applyEnvelopeModification(env, { filter: 'f', kind: 'addrcpt', recipient: '<c@x>, "d, e" <d@x>, b@x' }) as typeof env;
    env = applyEnvelopeModification(env, { filter: 'f', kind: 'addrcpt', recipient: '<p@x>', args: 'NOTIFY=NEVER' }) as typeof env;
    env = applyEnvelopeModification(env, { filter: 'f', kind: 'delrcpt', recipient: '<v@x.test>' }) as typeof env;
    const out = applyEnvelopeModification(env, { filter: 'f', kind: 'chgfrom', sender: '<>', args: 'BODY=7BIT' });
    assert.deepEqual(out, {
      sender: '',
      senderArgs: 'BODY=7BIT',
      recipients: [{ address: 'b@x' }, { address: 'c@x' }, { address: 'd@x' }, { address: 'p@x', args: 'NOTIFY=NEVER' }],
    });
    assert.deepEqual(splitAddressList('a@x,(c,d) b@x, <e@x>'), ['a@x', '(c,d) b@x', '<e@x>']);
  });
});
