/** The sentinel, as the CLI and `tandem up` use it: its config, its keys, a switchover request. */
export { loadSentinelConfig, resolveSentinelConfig, type SentinelConfig, type SentinelPeer } from './config.ts';
export {
  dbKeys,
  type HistoryValue,
  type LeaderValue,
  type MemberRole,
  type MemberValue,
  parseValue,
  type SwitchoverValue,
  type SyncValue,
} from './keys.ts';
export type { SentinelState } from './sentinel.ts';
export { requestSwitchover, type SwitchoverResult } from './switchover.ts';
