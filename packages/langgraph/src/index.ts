export type { GateEngine, GateOrigin } from './engine.js';
export { HoldpointSaver, type HoldpointSaverOptions, type InterruptedThread } from './holdpoint-saver.js';
export { type HumanGateNode, type HumanGateOptions, humanGate } from './human-gate.js';
export {
  type ActionRequest,
  type HITLDecision,
  type HITLRequest,
  type HITLResponse,
  type HumanInTheLoopOptions,
  hitlOutcomes,
  humanInTheLoop,
  type InterruptMapping,
  type InterruptOrigin,
  type ReviewConfig,
} from './human-in-the-loop.js';
export {
  type ResumableGraph,
  type ResumeEvent,
  type Resumer,
  type ResumerOptions,
  startResumer,
} from './resumer.js';
export {
  type HumanTaskInterrupt,
  isHumanTaskInterrupt,
  type WaitForHumanOptions,
  waitForHuman,
} from './wait-for-human.js';
