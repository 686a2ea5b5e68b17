/**
 * Length-prefixed frames: how one Postern process hands a message to another
 * when a message cut short must never pass for a whole one (the MSP to the
 * daemon, submit-wire.ts; the broker to a mailbox agent, agent-protocol.ts
 * and agent.c).  Each frame is a 4-byte big-endian length and that many
 * bytes of the message.  A frame of length 0 ends the message: without it
 * the message is not whole, whatever came before, so a sender that stops in
 * the middle (a read error, a kill) can never have its first part taken for
 * all of it.  The length ABORT_FRAME says so outright.
 */
export const FRAME_HEADER_BYTES = 4;
export const ABORT_FRAME = 0xffffffff;
/** The longest frame a peer may send; a writer splits longer chunks. */
export const MAX_FRAME_BYTES = 1 << 24;

export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return header;
}

/** The frame that makes the message whole. */
export const END_OF_MESSAGE: Buffer = frameHeader(0);
/** The frame by which the sender gives the message up. */
export const ABANDON_MESSAGE: Buffer = frameHeader(ABORT_FRAME);

/** `chunk` as frames: header and bytes, never longer than MAX_FRAME_BYTES; nothing for an empty chunk. */
export function framed(chunk: Buffer): Buffer[] {
  if (chunk.length <= MAX_FRAME_BYTES) return chunk.length === 0 ? [] : [frameHeader(chunk.length), chunk];
  const out: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_FRAME_BYTES) {
    const part = chunk.subarray(at, at + MAX_FRAME_BYTES);
    out.push(frameHeader(part.length), part);
  }
  return out;
}
