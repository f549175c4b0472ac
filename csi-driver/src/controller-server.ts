import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { KlClient } from '@kubelustre/client/fs-client.ts';
import { isDir } from '@kubelustre/client/mode.ts';
import type { LustreFileSystem } from '@kubelustre/operator/k8s/objects.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import { CsiError, invalidArgument, notFound } from './csi-error.ts';
import type {
  ControllerExpandVolumeRequest,
  CreateVolumeRequest,
  DeleteVolumeRequest,
  GetCapacityRequest,
  ListVolumesRequest,
  StringMap,
  ValidateVolumeCapabilitiesRequest,
  Volume,
} from './csi-proto.ts';
import type { FilesystemResolver } from './filesystem-resolver.ts';
import { type FsConnections, SECRET_KEY, sharedKey } from './fs-connections.ts';
import { type FsSource, parseVolumeParameters, volumePath } from './parameters.ts';
import { PCC_CLASS_CONTEXT_KEY } from './pcc-mount.ts';
import { projectUsage } from './quota-api.ts';
import { unary } from './rpc-handler.ts';
import { capacityFits, requestedCapacity, requireSupported, unsupportedReason } from './volume-capability.ts';
import { decodeVolumeId, encodeVolumeId } from './volume-id.ts';
import type { VolumeLocation, VolumeLocations } from './volume-locations.ts';
import { VolumeLocks } from './volume-locks.ts';
import { createVolumeDir, listVolumeNames, readRecord, removeTree, writeRecord } from './volume-store.ts';

export interface ControllerDeps {
  connections: FsConnections;
  locations: VolumeLocations;
  /** The plugin's key file: the shared key for calls whose request carries no `key` secret. */
  keyFile: string | undefined;
  /** Reads the LustreFileSystems and LayoutPolicies that StorageClasses name. */
  resolver: FilesystemResolver;
}

/** A StorageClass's filesystem, found: where its MGS is, the key for it, and the object if it has one. */
interface Located {
  fs: { mgs: string; fsName: string };
  key: Buffer;
  object: LustreFileSystem | undefined;
}

/**
 * What works, and nothing more: EXPAND_VOLUME raises the volume's project quota (see quota-api.ts); no
 * PUBLISH_UNPUBLISH (nothing to attach: nodes mount the filesystem themselves), no snapshots or clones.
 */
const CAPABILITIES = ['CREATE_DELETE_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'EXPAND_VOLUME'];

/**
 * The CSI Controller service: a volume is a directory of the filesystem (`baseDir/NAME`) and its id
 * says where it is, so every call finds its volume without driver state. Each handler runs in the same
 * order: validate, lock the volume, check whether the work is done already, act, record.
 */
export class ControllerServer {
  readonly #deps: ControllerDeps;
  readonly #locks = new VolumeLocks();

  constructor(deps: ControllerDeps) {
    this.#deps = deps;
  }

  handlers(log: Logger): UntypedServiceImplementation {
    return {
      CreateVolume: unary('CreateVolume', log, (req: CreateVolumeRequest, l) => this.createVolume(req, l)),
      DeleteVolume: unary('DeleteVolume', log, (req: DeleteVolumeRequest, l) => this.deleteVolume(req, l)),
      ValidateVolumeCapabilities: unary(
        'ValidateVolumeCapabilities',
        log,
        (req: ValidateVolumeCapabilitiesRequest) => this.validateVolumeCapabilities(req),
      ),
      ListVolumes: unary('ListVolumes', log, (req: ListVolumesRequest, l) => this.listVolumes(req, l)),
      GetCapacity: unary('GetCapacity', log, (req: GetCapacityRequest) => this.getCapacity(req)),
      ControllerExpandVolume: unary('ControllerExpandVolume', log, (req: ControllerExpandVolumeRequest, l) =>
        this.expandVolume(req, l),
      ),
      ControllerGetCapabilities: unary('ControllerGetCapabilities', log, async () => ({
        capabilities: CAPABILITIES.map((type) => ({ rpc: { type } })),
      })),
    };
  }

  async createVolume(req: CreateVolumeRequest, log: Logger): Promise<{ volume: Volume }> {
    if (!req.name) throw invalidArgument('name is required');
    requireSupported(req.volumeCapabilities);
    if (req.volumeContentSource) throw invalidArgument('snapshots and clones are not supported');
    if (Object.keys(req.mutableParameters).length > 0)
      throw invalidArgument('mutable parameters are not supported');
    const params = parseVolumeParameters(req.parameters);
    const path = volumePath(params.baseDir, req.name);
    const capacityBytes = requestedCapacity(req.capacityRange);
    const { fs, key, object } = await this.#locate(params, req.secrets);
    const layout =
      object && params.layoutPolicy !== undefined
        ? await this.#deps.resolver.layoutPolicy(object, params.layoutPolicy)
        : params.layout;
    if (params.pccClass !== undefined) await this.#deps.resolver.pccClass(params.pccClass);
    // What nodes read at NodeStage (the PV's volumeAttributes): the PCCClass to mount the volume with.
    const volumeContext: StringMap =
      params.pccClass === undefined ? {} : { [PCC_CLASS_CONTEXT_KEY]: params.pccClass };
    // The id says where the volume is (the MGS as reached from here), so a node needs no API access.
    const volumeId = encodeVolumeId({ ...fs, path });
    using _lock = this.#locks.acquire(volumeId);
    const client = await this.#deps.connections.get(fs, key);
    const existing = await readRecord(client, path).then(
      (record) => ({ record }),
      (e: unknown) => (isKlError(e, 'ENOENT') ? undefined : Promise.reject(e)),
    );
    if (existing) {
      const record = existing.record;
      if (!record)
        throw new CsiError(status.ALREADY_EXISTS, `${path} exists and was not created by this driver`);
      if (!capacityFits(record.capacityBytes, req.capacityRange)) {
        throw new CsiError(
          status.ALREADY_EXISTS,
          `volume ${req.name} exists with ${record.capacityBytes} bytes`,
        );
      }
      return { volume: { volumeId, capacityBytes: record.capacityBytes, volumeContext } };
    }
    const wanted = {
      name: req.name,
      capacityBytes,
      onDelete: params.onDelete,
      inodeLimit: params.inodeLimit,
    };
    const { projectId } = await createVolumeDir(client, params.baseDir, wanted, layout);
    const { baseDir, filesystem } = params;
    await this.#deps.locations.add({ ...fs, baseDir, ...(filesystem && { filesystem }) });
    log.info({ path, capacityBytes, onDelete: params.onDelete, projectId }, 'Created volume directory');
    return { volume: { volumeId, capacityBytes, volumeContext } };
  }

  async deleteVolume(req: DeleteVolumeRequest, log: Logger): Promise<object> {
    if (!req.volumeId) throw invalidArgument('volume id is required');
    const ref = decodeVolumeId(req.volumeId);
    if (!ref) {
      log.info({}, 'Ignored delete of a volume id that is not ours');
      return {};
    }
    using _lock = this.#locks.acquire(req.volumeId);
    const client = await this.#client(ref, req.secrets);
    const found = await readRecord(client, ref.path).then(
      (record) => ({ record }),
      (e: unknown) => (isKlError(e, 'ENOENT') ? undefined : Promise.reject(e)),
    );
    if (!found) return {};
    if (!found.record) {
      log.warn({ path: ref.path }, 'Kept a directory the driver did not create (a static volume)');
    } else if (found.record.onDelete === 'retain') {
      log.info({ path: ref.path }, 'Retained volume directory (onDelete: retain)');
    } else {
      await removeTree(client, ref.path);
      // The tree is gone, so its project holds nothing: without limits its id is free for another volume.
      const projectId = found.record.projectId;
      if (projectId !== undefined)
        await client.lustre.setQuota(projectId, { blockHardBytes: 0, inodeHard: 0 });
      log.info({ path: ref.path, projectId }, 'Deleted volume directory');
    }
    return {};
  }

  /**
   * Sets the volume's capacity, which is its project's byte limit. Growing always works; a range whose
   * limit is below the current capacity shrinks it, unless the volume already holds more (OUT_OF_RANGE,
   * the spec's answer for a range the plugin cannot honour). Nothing is left for the node to do.
   */
  async expandVolume(req: ControllerExpandVolumeRequest, log: Logger): Promise<object> {
    if (!req.volumeId) throw invalidArgument('volume id is required');
    const wanted = requestedCapacity(req.capacityRange);
    if (wanted === 0) throw invalidArgument('capacity range with a required or limit size is required');
    const ref = decodeVolumeId(req.volumeId);
    if (!ref) throw notFound(`no volume has id ${req.volumeId}`);
    using _lock = this.#locks.acquire(req.volumeId);
    const client = await this.#client(ref, req.secrets);
    const record = await readRecord(client, ref.path).catch((e: unknown) =>
      isKlError(e, 'ENOENT')
        ? Promise.reject(notFound(`volume ${ref.path} does not exist`))
        : Promise.reject(e),
    );
    if (!record) throw new CsiError(status.FAILED_PRECONDITION, `${ref.path} was not created by this driver`);
    if (capacityFits(record.capacityBytes, req.capacityRange)) {
      return { capacityBytes: record.capacityBytes, nodeExpansionRequired: false };
    }
    if (record.projectId !== undefined) {
      const usage = await projectUsage(client, record.projectId);
      if (wanted < usage.usedBytes) {
        throw new CsiError(
          status.OUT_OF_RANGE,
          `volume ${ref.path} holds ${usage.usedBytes} bytes, more than ${wanted}`,
        );
      }
      const limits = { blockHardBytes: wanted, inodeHard: record.inodeLimit ?? 0 };
      await client.lustre.setQuota(record.projectId, limits);
    }
    await writeRecord(client, ref.path, { ...record, capacityBytes: wanted });
    log.info({ path: ref.path, from: record.capacityBytes, to: wanted }, 'Resized volume');
    return { capacityBytes: wanted, nodeExpansionRequired: false };
  }

  async validateVolumeCapabilities(req: ValidateVolumeCapabilitiesRequest): Promise<object> {
    if (!req.volumeId) throw invalidArgument('volume id is required');
    if (req.volumeCapabilities.length === 0) throw invalidArgument('volume capabilities are required');
    const ref = decodeVolumeId(req.volumeId);
    if (!ref) throw notFound(`no volume has id ${req.volumeId}`);
    const client = await this.#client(ref, req.secrets);
    if (!isDir((await client.paths.stat(ref.path)).mode)) throw notFound(`${ref.path} is not a directory`);
    const reasons = req.volumeCapabilities.map(unsupportedReason).filter((r) => r !== undefined);
    if (reasons.length > 0) return { message: reasons.join('; ') };
    const { volumeContext, volumeCapabilities, parameters } = req;
    return { confirmed: { volumeContext, volumeCapabilities, parameters } };
  }

  /**
   * Every volume directory of every location this controller created volumes in, ordered by id. The
   * token is the last id of the page before, so a page stays right when volumes come and go between
   * calls (even the token's own volume).
   */
  async listVolumes(req: ListVolumesRequest, log: Logger): Promise<object> {
    if (req.maxEntries < 0) throw invalidArgument('max_entries must not be negative');
    if (req.startingToken && !decodeVolumeId(req.startingToken)) {
      throw new CsiError(status.ABORTED, `starting token ${req.startingToken} was not issued by this driver`);
    }
    const all = new Map<string, { client: KlClient; path: string }>();
    for (const loc of this.#deps.locations.list()) {
      try {
        const client = await this.#client(loc, {});
        for (const name of await listVolumeNames(client, loc.baseDir)) {
          const path = `${loc.baseDir}/${name}`;
          all.set(encodeVolumeId({ ...loc, path }), { client, path });
        }
      } catch (e) {
        log.warn(
          { mgs: loc.mgs, fsName: loc.fsName, err: (e as Error).message },
          'Left a location out of ListVolumes',
        );
      }
    }
    const ids = [...all.keys()].filter((id) => id > req.startingToken).sort();
    const page = req.maxEntries > 0 ? ids.slice(0, req.maxEntries) : ids;
    const entries = [];
    for (const volumeId of page) {
      const { client, path } = all.get(volumeId)!;
      const record = await readRecord(client, path).catch(() => undefined);
      entries.push({ volume: { volumeId, capacityBytes: record?.capacityBytes ?? 0, volumeContext: {} } });
    }
    return { entries, nextToken: page.length < ids.length ? page.at(-1)! : '' };
  }

  /** Free bytes of the StorageClass's filesystem; 0 when the request names none (no parameters). */
  async getCapacity(req: GetCapacityRequest): Promise<object> {
    if (Object.keys(req.parameters).length === 0) return { availableCapacity: 0 };
    const params = parseVolumeParameters(req.parameters);
    const { connections, keyFile } = this.#deps;
    let client: KlClient;
    if (params.filesystem === undefined) client = await connections.getKnown(params, keyFile);
    else {
      const { fs, key } = await this.#locate(params, {});
      client = await connections.get(fs, key);
    }
    return { availableCapacity: (await client.lustre.statfs()).availBytes };
  }

  /**
   * The StorageClass's filesystem and its key: the request's `key` secret first; then, for `mgs`, the
   * plugin's key file, for a LustreFileSystem, its own Secret (what its targets use).
   */
  async #locate(source: FsSource, secrets: StringMap): Promise<Located> {
    if (source.filesystem === undefined) {
      const fs = { mgs: source.mgs, fsName: source.fsName };
      return { fs, key: sharedKey(secrets, this.#deps.keyFile), object: undefined };
    }
    const { mgs, fsName, object } = await this.#deps.resolver.filesystem(source.filesystem);
    const key =
      secrets[SECRET_KEY] !== undefined
        ? sharedKey(secrets, undefined)
        : await this.#deps.resolver.sharedKey(object);
    return { fs: { mgs, fsName }, key, object };
  }

  /**
   * A client for a volume's filesystem in calls that carry no StorageClass: the request's secret, else
   * the last key that worked, else (after a restart) the Secret of the LustreFileSystem its volumes
   * were created from, else the key file.
   */
  async #client(ref: { mgs: string; fsName: string }, secrets: StringMap): Promise<KlClient> {
    const { connections, locations } = this.#deps;
    if (secrets[SECRET_KEY] !== undefined) return connections.get(ref, sharedKey(secrets, undefined));
    const filesystem = locations.list().find((l) => sameFs(l, ref) && l.filesystem)?.filesystem;
    if (!connections.knowsKey(ref) && filesystem) {
      return connections.get(ref, await this.#deps.resolver.sharedKeyOfRef(filesystem));
    }
    return connections.getKnown(ref, this.#deps.keyFile);
  }
}

function sameFs(a: VolumeLocation, b: { mgs: string; fsName: string }): boolean {
  return a.mgs === b.mgs && a.fsName === b.fsName;
}
