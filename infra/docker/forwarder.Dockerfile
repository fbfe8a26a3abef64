# syntax=docker/dockerfile:1
#
# The forwarder's image: src/forwarder/main.ts and everything it imports bundled by esbuild into one ES
# module, run by the distroless Node.js 22 image (no shell, no package manager) as its non-root user.
#
#   docker build -f infra/docker/forwarder.Dockerfile -t affinity-relocator-forwarder .
#
# The bundle is JavaScript, the same on every architecture, so the build stage runs on the builder's own
# platform and a multi-arch build (--platform linux/amd64,linux/arm64) emulates nothing.
# For reproducible builds pin both base images by digest (image@sha256:...).

FROM --platform=$BUILDPLATFORM node:22-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: bundling needs none (esbuild finds its binary in its platform package).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# Like scripts/build.ts does for the Lambdas: CommonJS dependencies bundled into an ES module still call
# require() for Node built-ins, so the banner puts a real `require` in scope. Minified with a source map
# (the image runs node --enable-source-maps, so stack traces name our sources).
RUN ["npx", "esbuild", "src/forwarder/main.ts", "--bundle", "--platform=node", "--target=node22", "--format=esm", \
     "--minify", "--sourcemap", "--legal-comments=none", "--outfile=dist/forwarder/main.mjs", \
     "--banner:js=import { createRequire as __bannerCreateRequire } from 'module'; const require = __bannerCreateRequire(import.meta.url);"]

FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
COPY --from=build /src/dist/forwarder/main.mjs /src/dist/forwarder/main.mjs.map ./
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 65532:65532
# The ops server: /healthz, /readyz, /metrics (OPS_PORT).
EXPOSE 8080
# The image's entrypoint is node itself. A young generation of 2 MB semi-spaces instead of V8's 16 MB: the
# forwarder's steady churn (watch events, publishing) otherwise grows it to its maximum, resident memory the
# heap never uses (bench/forwarder.ts runs the forwarder with these flags).
CMD ["--enable-source-maps", "--max-semi-space-size=2", "/app/main.mjs"]
