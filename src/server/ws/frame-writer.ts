import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Writing WebSocket frames ourselves: the one place that knows `ws`
 * internals. A result shared by a whole delivery class is framed per
 * subscriber with one small copy and one write to the TCP socket, instead of
 * ws's string encoding, header buffer, cork, two-buffer writev and callback.
 */

/**
 * The TCP socket under a `ws` WebSocket when frames may be written to it
 * directly: only while no extension (permessage-deflate) is negotiated,
 * since frames must then be compressed. Frames written here go to the same
 * socket, in the same order, as ws's own (which writes through at once when
 * not compressing).
 */
export function rawSocketOf(socket: WebSocket): Socket | undefined {
  const internals = socket as unknown as { _socket?: Socket; _extensions?: Record<string, unknown> };
  return internals._socket && Object.keys(internals._extensions ?? {}).length === 0 ? internals._socket : undefined;
}

/** One unmasked, final text frame (server to client) holding `head`, `body` and a closing `}`. */
export function textFrame(head: Buffer, body: Buffer): Buffer {
  const length = head.length + body.length + 1;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, text
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  head.copy(frame, header);
  body.copy(frame, header + head.length);
  frame[frame.length - 1] = 0x7d; // }
  return frame;
}

/**
 * Encodes small strings that live as long as a subscription into slabs of
 * their own. `Buffer.from` would cut them from Node's shared 8 kB pool, and
 * each would then keep its whole pool slab alive — mostly other, long dead
 * buffers, more than the subscriber's own objects. Here a slab holds only
 * such prefixes.
 */
export function slabEncoder(slabSize = 2048): (text: string) => Buffer {
  let slab = Buffer.allocUnsafeSlow(0);
  let used = 0;
  return (text) => {
    const length = Buffer.byteLength(text);
    if (length > slabSize / 8) {
      // Rare (a very long operation id): a buffer of its own.
      const bytes = Buffer.allocUnsafeSlow(length);
      bytes.write(text);
      return bytes;
    }
    if (used + length > slab.length) {
      slab = Buffer.allocUnsafeSlow(slabSize);
      used = 0;
    }
    const bytes = slab.subarray(used, used + length);
    bytes.write(text);
    used += length;
    return bytes;
  };
}


