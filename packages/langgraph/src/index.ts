export { HoldpointSaver, type HoldpointSaverOptions, type InterruptedThread } from './holdpoint-saver.js';
