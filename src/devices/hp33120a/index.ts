/** The HP 33120A family: codec with the output limits, driver, daemon definition; the bus model loads on demand from model.ts. */
export * from './codec.js';
export { Hp33120aDriver, encodeRequest, hp33120aExchangeOptions, hp33120aSplitter } from './driver.js';
export { hp33120aDevice, hp33120aFamily, hp33120aOptionsSchema } from './device.js';
export type { Hp33120aOptions } from './device.js';
