/** The two-writer hunter: seeded faults and user actions against the simulator and the real operations. */
export {
  type FuzzOptions,
  type FuzzResult,
  type FuzzViolation,
  formatResult,
  huntFeatures,
  runMany,
  runSequence,
  type StepRecord,
} from "./engine";
export { describeStep, type FuzzOperation, type FuzzStep, fuzzSpec, generateSteps } from "./steps";
export { startWorld, type World } from "./world";
