/**
 * The SCPI kit: codec helpers, IEEE-488.2 common commands and a declarative simulator command
 * tree, shared by every SCPI family (Cryo-con, Keithley 6485, HP 33120A …).
 */
export * from './codec.js';
export * from './common.js';
export * from './errors.js';
export * from './keywords.js';
export * from './tree.js';
