# AISIX gateway image: one image for every role (all-in-one, admin, gateway).
#
#   docker build -t aisix:local .
#   docker run --rm -p 3000:3000 -p 3001:3001 -e AISIX_ADMIN__ADMIN_KEYS=<key> aisix:local
#
# The default command runs deploy/docker/config.yaml (embedded store under /var/lib/aisix,
# listeners on 0.0.0.0, no admin key: set AISIX_ADMIN__ADMIN_KEYS). Mount your own
# config.yaml and pass `--config <path> [--role admin|gateway]` for a cluster (docker-compose.yml,
# deploy/kubernetes/).

FROM node:20-slim AS build
WORKDIR /app
ENV CI=true TURBO_TELEMETRY_DISABLED=1
COPY . .
RUN npx -y pnpm@12.4.2 install --frozen-lockfile \
 && npx -y pnpm@12.4.2 run build \
 && rm -rf node_modules packages/*/node_modules e2e/node_modules bench/node_modules \
 && npx -y pnpm@12.4.2 install --frozen-lockfile --prod

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
COPY deploy/docker/config.yaml /etc/aisix/config.yaml
RUN mkdir -p /var/lib/aisix && chown node:node /var/lib/aisix
USER node
# proxy, admin, metrics/status
EXPOSE 3000 3001 9090
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/packages/cli/dist/src/main.js"]
CMD ["--config", "/etc/aisix/config.yaml"]
