/**
 * Arbin CTI ("Console TCP/IP Interface", MITS Pro port 9031): pure encoding and decoding, no I/O.
 *
 * Every message is a little-endian packed frame:
 *
 *     DD DD DD DD DD DD DD 11 | dwLen u32 | dwCmd u32 | dwCmd_Extend u32 (0) | args | checksum u16
 *
 * The length rule is asymmetric: a request's dwLen counts the bytes after the field (total − 12),
 * a feedback's counts the whole frame (total). The checksum is the byte sum of everything before
 * it, modulo 65536. Text is UTF-16LE (`wchar`) or ASCII/UTF-8 (`byte`), NUL-padded to a fixed width.
 *
 * Channels are 1-based everywhere in this module's API; the 0-based wire index exists only inside
 * the encoders and decoders here. Channel 0 is refused: pycti sent it as −1, which addresses every
 * channel of a real cycler.
 *
 * The codec lives in codec/: framing.ts (header, length, checksum), commands.ts (codes and names),
 * stream-decoder.ts (frames out of a byte stream), fields.ts (channels, fixed-width text, f32),
 * and one file per message family. This file is the entry its importers use.
 */
export * from './codec/framing.js';
export * from './codec/commands.js';
export * from './codec/stream-decoder.js';
export * from './codec/fields.js';
export * from './codec/login.js';
export * from './codec/connect.js';
export * from './codec/channels-info.js';
export * from './codec/assign.js';
export * from './codec/start.js';
export * from './codec/stop-resume.js';
export * from './codec/set-mv.js';
export * from './codec/common-feedback.js';
export * from './codec/channel-status.js';
