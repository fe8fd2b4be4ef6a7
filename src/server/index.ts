/** What every listener shares (DESIGN.md §2): daemon, monitor and web import it from here. */
export { ConnectionSlots } from './connection-slots.js';
export * from './roles.js';
export * from './tokens.js';
export * from './rate-limit.js';
export * from './secret-throttle.js';
export * from './refusals.js';
export * from './line-server.js';
export * from './listener-policy.js';
export * from './builtins.js';
export * from './listener-limits.js';
export * from './forwarding.js';
