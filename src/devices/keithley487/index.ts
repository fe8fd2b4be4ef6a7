/** The Keithley 487 family: DDC codec, driver, daemon definition; the bus model loads on demand from model.ts. */
export * from './codec.js';
export { Keithley487Driver, encodeRequest, keithley487ExchangeOptions, keithley487Splitter, rangeAmps, rangeName } from './driver.js';
export { keithley487Device, keithley487Family, keithley487OptionsSchema } from './device.js';
export type { Keithley487Options } from './device.js';
