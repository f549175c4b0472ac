# One image with every kubelustre program, each on PATH under a stable name for manifests:
#   kubelustre-target    MGS, MDT and OST targets (target-server/src/main.ts)
#   kubelustre           the CLI: mount/umount (FUSE), lfs, lctl, local (client/src/cli/main.ts)
#   kubelustre-csi       the CSI plugin, controller and node (csi-driver/src/main.ts)
#   kubelustre-operator  the operator (operator/src/main.ts)
# Node 24 runs the TypeScript sources as they are (type stripping): there is no compile step.
#
#   docker build -t kubelustre:dev .
#
# Without a registry, test/image/make-base-image.sh makes the base image locally under the same name.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change, not on every source edit.
COPY package.json package-lock.json ./
COPY protocol/package.json protocol/
COPY target-server/package.json target-server/
COPY client/package.json client/
COPY operator/package.json operator/
COPY csi-driver/package.json csi-driver/
COPY test/package.json test/
# No install scripts: the repository allows none (package.json allowScripts); koffi's native code
# comes prebuilt in its per-platform package. Pruned: type declarations, source maps and docs,
# which nothing loads at run time, and the test workspace's link.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier \
 && rm -rf node_modules/@kubelustre/test test \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
      -o \( -iname '*.md' ! -iname 'license*' \) \) -delete \
 && rm -rf /root/.npm
COPY protocol/src protocol/src
COPY target-server/src target-server/src
COPY client/src client/src
COPY operator/src operator/src
COPY csi-driver/src csi-driver/src
COPY csi-driver/proto csi-driver/proto

FROM ${NODE_IMAGE}
# 65532: the unprivileged user the operator's target pods run as (runAsUser, fsGroup). Numeric in
# USER so that Kubernetes' runAsNonRoot can verify it without a runAsUser.
RUN groupadd --gid 65532 kubelustre \
 && useradd --uid 65532 --gid 65532 --home-dir /home/kubelustre --create-home --shell /usr/sbin/nologin kubelustre \
 && for entry in kubelustre-target:target-server/src/main.ts kubelustre:client/src/cli/main.ts \
      kubelustre-csi:csi-driver/src/main.ts kubelustre-operator:operator/src/main.ts; do \
      printf '#!/bin/sh\nexec node /app/%s "$@"\n' "${entry#*:}" >"/usr/local/bin/${entry%%:*}"; \
      chmod 755 "/usr/local/bin/${entry%%:*}"; \
    done
COPY --from=build /app /app
# Non-root by default. The exception is the CSI node plugin: it mounts (mount(2) needs CAP_SYS_ADMIN)
# and opens /dev/fuse, so the chart runs that one container privileged and as root.
USER 65532:65532
WORKDIR /home/kubelustre
# The public base's docker-entrypoint.sh (it prefixes `node` when the first argument is no command) is
# not in the locally made base: reset it, so the image behaves the same on either base.
ENTRYPOINT []
CMD ["kubelustre"]
