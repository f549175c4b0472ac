export {
  allocateStripes,
  isBalanced,
  type OstSpace,
  QOS_THRESHOLD_RR_PERCENT,
  type RoundRobinState,
  type StripeRequest,
  stripeCountFor,
} from './allocate.ts';
export {
  formatGetstripe,
  type GetstripeOptions,
  type GetstripeTarget,
  parseGetstripeArgs,
} from './getstripe-format.ts';
export {
  assignComponentIds,
  createFileLayout,
  type InstantiateDeps,
  type InstantiateResult,
  inheritLayout,
  instantiateComponents,
  LOV_DEFAULTS,
  type LovDefaults,
  subdirectoryDefault,
  type WriteRange,
} from './instantiate.ts';
export {
  componentsFor,
  fileSizeFromObjects,
  type IoExtent,
  locate,
  objectSizeForFileSize,
  overlapping,
  planIo,
  type StripeLocation,
  stripeCountOf,
} from './math.ts';
export { parseSetstripeArgs, type SetstripeArgs } from './setstripe-args.ts';
export * from './types.ts';
export { type ValidateContext, validateLayout, validateTemplate } from './validate.ts';
