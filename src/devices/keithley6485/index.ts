/** The Keithley 6485 family: codec, driver, daemon definition; the bus model loads on demand from model.ts. */
export * from './codec.js';
export { Keithley6485Driver, encodeRequest, keithley6485ExchangeOptions, keithley6485Splitter } from './driver.js';
export { keithley6485Device, keithley6485Family, keithley6485OptionsSchema } from './device.js';
export type { Keithley6485Options } from './device.js';
