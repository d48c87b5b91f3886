export { type CheckResult, check } from './checker.ts';
export {
  type ActiveFault,
  FAULT_KINDS,
  type FaultKind,
  type FaultSpec,
  heal,
  healAll,
  inject,
  networkFaultsSupported,
  readActive,
} from './faults.ts';
export type { History, Op } from './history.ts';
export { runLoad } from './load.ts';
export { renderMatrix, renderScenarioReport } from './report.ts';
export { describeFault, runScenario, type ScenarioReport } from './run.ts';
export { SCENARIOS, type Scenario, scenarioFor, scenarioNamed } from './scenarios.ts';
export { resolveTarget, targetNames } from './targets.ts';
