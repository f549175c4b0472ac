import type { Logger } from 'pino';
import type { LayoutPolicy, LustreFileSystem } from '../k8s/objects.ts';
import type { MgsSession } from '../mgs/mgs-connections.ts';
import { defaultLayoutSource } from '../policy/default-layout.ts';
import type { FsConfigValue, Problem } from '../policy/filesystem-status.ts';
import { layoutProblem, layoutTemplate, poolsOf, sameLayout } from '../policy/layout.ts';
import type { OperatorContext } from './context.ts';

/** How sending the default layout went: nothing left to do, waiting for its pools, or a problem. */
export type DefaultLayoutOutcome =
  | { state: 'settled' }
  | { state: 'waitingForPools'; pools: string[] }
  | { state: 'problem'; problem: Problem };

/**
 * Sends the filesystem's default layout to the MGS when it differs from the one the MGS has. The
 * filesystem's reconciler is the only sender (see defaultLayoutSource). A layout naming a pool the
 * MGS does not have yet waits for the OSTPool reconciler, whose status change brings us back.
 */
export async function syncDefaultLayout(
  ctx: OperatorContext,
  fs: LustreFileSystem,
  session: MgsSession,
  config: FsConfigValue,
  log: Logger,
): Promise<DefaultLayoutOutcome> {
  const policies = ctx.caches.policies.list(fs.metadata.namespace) as LayoutPolicy[];
  const source = defaultLayoutSource(fs, policies);
  if (source.kind === 'none') return { state: 'settled' };
  if (source.kind === 'problem') return { state: 'problem', problem: source.problem };
  const components = source.kind === 'inline' ? source.components : source.policy.spec.components;
  const from =
    source.kind === 'inline' ? 'spec.defaultLayout' : `LayoutPolicy ${source.policy.metadata.name}`;
  const missing = poolsOf(components).filter((p) => !Object.hasOwn(config.pools, p));
  if (missing.length > 0) return { state: 'waitingForPools', pools: missing };
  const layout = layoutTemplate(components);
  if (sameLayout(layout, config.defaultLayout)) return { state: 'settled' };
  const ostCount = fs.spec.osts.count;
  const invalid = layoutProblem(layout, ostCount, config.pools);
  if (invalid !== undefined) {
    return { state: 'problem', problem: { reason: 'DefaultLayoutInvalid', message: `${from}: ${invalid}` } };
  }
  await session.setDefaultLayout(layout);
  ctx.events.record(
    fs,
    'Normal',
    'DefaultLayoutSet',
    'SetDefaultLayout',
    `Set the default layout from ${from}`,
  );
  log.info({ from }, `Set the default layout of ${fs.metadata.name} from ${from}`);
  return { state: 'settled' };
}
