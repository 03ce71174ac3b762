# baton runs its TypeScript directly on Node 24 (type stripping): no build step.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY server ./server
COPY adapters ./adapters
COPY migrations ./migrations
COPY clients ./clients
COPY config ./config
USER node
EXPOSE 9400
ENTRYPOINT ["node", "server/src/cli.ts"]
CMD ["start"]
