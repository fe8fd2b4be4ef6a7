/// <reference lib="dom" />
/** Entry point of the page (bundled by scripts/build-ui.mjs). */
import { h, render } from 'preact';
import { App } from './app.js';

render(h(App, null), document.getElementById('app')!);
