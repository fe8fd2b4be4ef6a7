/** Entry point for running the CLI from source (`npm run labwire -- …`). */
import { main } from './main.js';

await main(process.argv);
