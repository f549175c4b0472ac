import type { LayoutComponentSpec } from '../crds/layout-components.ts';
import type { LayoutPolicy, LustreFileSystem } from '../k8s/objects.ts';
import type { Problem } from './filesystem-status.ts';

/** Where the filesystem's default layout comes from, or that it has none (the MGS keeps its own). */
export type DefaultLayoutSource =
  | { kind: 'none' }
  | { kind: 'inline'; components: LayoutComponentSpec[] }
  | { kind: 'policy'; policy: LayoutPolicy }
  | { kind: 'problem'; problem: Problem };

/**
 * The one layout that is the filesystem's default. The filesystem's own `defaultLayout` wins (inline
 * components, or the LayoutPolicy it names); otherwise the oldest LayoutPolicy of this filesystem with
 * `appliesTo.fileSystemDefault`, so that a second such policy does not silently take over. Deciding
 * here, for the filesystem's reconciler alone to send, keeps a single writer of the MGS's default.
 */
export function defaultLayoutSource(
  fs: LustreFileSystem,
  policies: readonly LayoutPolicy[],
): DefaultLayoutSource {
  const ofFs = policies.filter(
    (p) => p.metadata.namespace === fs.metadata.namespace && p.spec.fileSystem === fs.metadata.name,
  );
  const own = fs.spec.defaultLayout;
  if (own?.components !== undefined) return { kind: 'inline', components: own.components };
  if (own?.policyName !== undefined) {
    const named = ofFs.find((p) => p.metadata.name === own.policyName);
    if (named !== undefined) return { kind: 'policy', policy: named };
    const elsewhere = policies.some(
      (p) => p.metadata.namespace === fs.metadata.namespace && p.metadata.name === own.policyName,
    );
    const message = elsewhere
      ? `LayoutPolicy ${own.policyName} belongs to another filesystem`
      : `LayoutPolicy ${own.policyName} named by spec.defaultLayout does not exist`;
    return { kind: 'problem', problem: { reason: 'DefaultLayoutNotFound', message } };
  }
  const defaults = ofFs
    .filter((p) => p.spec.appliesTo.fileSystemDefault === true && p.metadata.deletionTimestamp === undefined)
    .sort(byAge);
  return defaults[0] === undefined ? { kind: 'none' } : { kind: 'policy', policy: defaults[0] };
}

function byAge(a: LayoutPolicy, b: LayoutPolicy): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta === tb ? a.metadata.name.localeCompare(b.metadata.name) : ta.localeCompare(tb);
}
