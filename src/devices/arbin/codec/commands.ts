/** CTI command codes, the feedback code that answers each, and their names for messages. */

/** Request codes (vendor v1.1 / v4.5). Feedback code = the same with the nibbles of byte 2 swapped. */
export const CMD = {
  LOGIN: 0xeeab0001,
  CONNECT: 0xeeab0002,
  GET_CHANNELS_INFO: 0xeeab0003,
  ASSIGN_SCHEDULE: 0xbb210001,
  SET_MV_VALUE: 0xbb150001,
  UPDATE_MV_ADVANCED: 0xbb150002,
  STOP_SCHEDULE: 0xbb310001,
  RESUME_SCHEDULE: 0xbb310002,
  START_SCHEDULE: 0xbb320004,
  JUMP_CHANNEL: 0xbb320005,
  CONTINUE_SCHEDULE: 0xbb320006,
  GET_SERIAL: 0xbb340001,
  BROWSE_DIRECTORY: 0xcc130001,
  DOWNLOAD_FILE: 0xcc130002,
  UPLOAD_FILE: 0xcc130003,
  NEW_OR_DELETE: 0xcc130004,
  NEW_FOLDER: 0xcc130005,
  DELETE_FOLDER: 0xcc130006,
  GET_START_DATA: 0xcd130001,
  START_EX: 0xcd130002,
  GET_RESUME_DATA: 0xcd130003,
  RESUME_EX: 0xcd130004,
  AUTOCALI_START: 0xcd140001,
  SEND_MSG_TO_CTI: 0xcd140002,
} as const;
export type CommandName = keyof typeof CMD;

/** The feedback code that answers a request code: `0xEEAB0001` → `0xEEBA0001`, `0xBB210001` → `0xBB120001`. */
export function feedbackCode(requestCode: number): number {
  const b2 = (requestCode >>> 16) & 0xff;
  const swapped = ((b2 & 0x0f) << 4) | (b2 >>> 4);
  return ((requestCode & 0xff00ffff) | (swapped << 16)) >>> 0;
}

/** Feedback codes by the request's name. */
export const FEEDBACK = Object.fromEntries(Object.entries(CMD).map(([k, v]) => [k, feedbackCode(v)])) as Record<CommandName, number>;

const NAMES = new Map<number, string>();
for (const [name, code] of Object.entries(CMD)) {
  NAMES.set(code, name);
  NAMES.set(feedbackCode(code), `${name} feedback`);
}

export function hex32(code: number): string {
  return `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** `GET_CHANNELS_INFO (0xEEAB0003)`, `STOP_SCHEDULE feedback (0xBB130001)`, or `unknown command 0x12345678`. */
export function commandName(code: number): string {
  const name = NAMES.get(code >>> 0);
  return name ? `${name} (${hex32(code)})` : `unknown command ${hex32(code)}`;
}

export function isKnownCommand(code: number): boolean {
  return NAMES.has(code >>> 0);
}
