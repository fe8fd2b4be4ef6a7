/** The monitor's web server (HTTP API, live streams, CCDLab endpoints, the page). */
export { startWeb, createWebApp, WEB_DEFAULTS, type WebOptions, type WebServer, type WebApp } from './server.js';
export type { DeviceView, Snapshot } from './views.js';
export type { CommandResult } from './replies.js';
