import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import test from 'node:test';
import { ipVersion } from '../../src/common/ip.js';

const SAMPLES = [
  '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '', 'localhost',
  '::', '::1', '1::', 'fe80::1%eth0', '%eth0', 'fe80::1%', '2001:db8::8a2e:370:7334', '2001:0db8:0000:0000:0000:ff00:0042:8329',
  '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '::ffff:192.0.2.1',
  '::ffff:192.0.2.256', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'g::1', '12345::1', '[::1]', '::1.2.3.4', '1.2.3.4::',
];

test('ipVersion agrees with node:net isIP', () => {
  for (const s of SAMPLES) assert.equal(ipVersion(s), isIP(s), s);
});
