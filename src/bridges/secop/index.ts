/** The SECoP node: every labwire device as SECoP modules (reference/secop.md, decision 0027). */
export { SecopNode, IDENTIFICATION, type SecopNodeOptions, type SecopMonitor } from './node.js';
export { modulesOf, describeNode, datainfo, identifier, type SecopModule } from './modules.js';
