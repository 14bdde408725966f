import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** Options of a volume made by {@link hostDockerResources}. */
export interface VolumeOptions {
  /**
   * Why the volume holds nothing that cannot be rebuilt (a cache, a file regenerated at start). Only such a
   * volume may be deleted by Pulumi; every other one is protected and retained.
   */
  disposable?: string;
}

/**
 * The images and volumes of one host's service component, named `<component>-<key>-image` and
 * `<component>-<key>-volume`. Images stay on the host between deploys (keepLocally) and are pulled only once
 * the host is hardened (`dependsOn`); volumes are named `tapbot-<key>` on the host, so data outlives every
 * container replacement. Invariant: no Pulumi operation deletes a volume with data. Each one is `protect`ed
 * (a rename, a replacement or `pulumi destroy` stops with an error instead of deleting it) and
 * `retainOnDelete` (even after `pulumi state unprotect`, Pulumi forgets the volume but leaves it on the host),
 * unless the caller says why it is disposable.
 */
export function hostDockerResources(
  component: string,
  child: pulumi.CustomResourceOptions,
  dependsOn: pulumi.Input<pulumi.Resource>[],
) {
  return {
    image: (key: string, ref: string) =>
      new docker.RemoteImage(
        `${component}-${key}-image`,
        { name: ref, keepLocally: true },
        { ...child, dependsOn },
      ),
    volume: (key: string, options: VolumeOptions = {}) =>
      new docker.Volume(
        `${component}-${key}-volume`,
        { name: `tapbot-${key}` },
        options.disposable === undefined ? { ...child, protect: true, retainOnDelete: true } : child,
      ),
  };
}
