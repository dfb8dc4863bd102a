import { PROVIDER_ROUTES } from '../project/contract.js'
import type { ProjectSettings } from '../project/settings.js'

// The deployment files of a project: docker-compose.yml and deploy/kubernetes/. They differ by
// store (Redis and two instances, or one replica) and carry the project's ports and name in many
// places, so they are written here whole rather than patched. The template holds what this
// writes for its own package.json, which keeps it runnable and lists the files among its own
// (test/deployment-files.test.ts holds the two equal).

/** The service's defaults (templates/service/src/config.ts), which these files set explicitly. */
export const SERVICE_DEFAULTS = { providerTimeoutMs: 5000, shutdownDrainMs: 0 } as const

/** The service's probes (templates/service/src/routes/health.ts). */
export const HEALTH_ROUTES = { live: '/health/live', ready: '/health/ready' } as const

export const COMPOSE_FILE = 'docker-compose.yml'
export const KUBERNETES_FILES = {
  deployment: 'deploy/kubernetes/deployment.yaml',
  services: 'deploy/kubernetes/service.yaml',
  disruptionBudget: 'deploy/kubernetes/pod-disruption-budget.yaml',
} as const

/** Instances of the service in docker-compose.yml with the Redis store: enough to see them share one handshake. */
const COMPOSE_REDIS_INSTANCES = 2
/** Replicas with the Redis store, and the autoscaler's floor: one pod may go while another serves. */
const KUBERNETES_REDIS_REPLICAS = 2
const KUBERNETES_MAX_REPLICAS = 6

/**
 * How long a terminating pod keeps serving before it is told to stop: the time its endpoint's
 * removal takes to reach kube-proxy and the ingress controllers. This is the drain, so the
 * service's own (SHUTDOWN_DRAIN_MS) is 0 there.
 */
const PRE_STOP_SLEEP_S = 10
/** After the drain and the last provider call: closing idle sockets and exiting (the service needs about 1 s). */
const CLOSE_MARGIN_S = 5

export interface DeploymentValues {
  /** The package name. */
  name: string
  settings: ProjectSettings
}

/** Every deployment file of the project, by its path in the project. */
export function renderDeploymentFiles(values: DeploymentValues): Map<string, string> {
  const project = { ...values, app: kubernetesName(values.name), redis: values.settings.store === 'redis' }
  return new Map([
    [COMPOSE_FILE, composeFile(project)],
    [KUBERNETES_FILES.deployment, kubernetesDeployment(project)],
    [KUBERNETES_FILES.services, kubernetesServices(project)],
    [KUBERNETES_FILES.disruptionBudget, kubernetesDisruptionBudget(project)],
  ])
}

/**
 * A Kubernetes object name from a package name (`@acme/orders` → `acme-orders`): an RFC 1035
 * label, as Service names must be, short enough for the `-webhook` suffix.
 */
export function kubernetesName(packageName: string): string {
  const label = packageName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 55)
    .replace(/-+$/, '')
  if (label === '') return 'service'
  return /^[a-z]/.test(label) ? label : `svc-${label}`.slice(0, 55).replace(/-+$/, '')
}

interface Project extends DeploymentValues {
  /** The Kubernetes name. */
  app: string
  redis: boolean
}

/** Where the values of a file come from, which a change of package.json does not follow. */
function writtenFor({ settings }: Project): string[] {
  return [
    `# Written by \`gatekeep init\` for package.json "gatekeep" (port ${settings.port}, providerPort`,
    `# ${settings.providerPort}, store ${settings.store}); a later change there is not followed here.`,
  ]
}

/** Seconds from SIGTERM to a finished shutdown: the drain, a provider call running to its timeout, closing. */
function shutdownSeconds(drainMs: number): number {
  return Math.ceil((drainMs + SERVICE_DEFAULTS.providerTimeoutMs) / 1000) + CLOSE_MARGIN_S
}

/** A health check as the image's HEALTHCHECK runs it: node's fetch, the image having no curl. */
function nodeFetchCheck(url: string): string {
  return JSON.stringify(`fetch('${url}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`)
}

// ── docker-compose.yml ──────────────────────────────────────────────────────────────────────

/** Host ports for the instances: the project's port first, then upward, never the provider's. */
function instanceHostPorts({ port, providerPort }: ProjectSettings, count: number): number[] {
  const ports = [port]
  let step = 1
  for (let candidate = port; ports.length < count; ) {
    candidate += step
    if (candidate > 65535) {
      candidate = port
      step = -1
    } else if (candidate !== providerPort) {
      ports.push(candidate)
    }
  }
  return ports
}

function composeFile(project: Project): string {
  const { settings, redis } = project
  const instances = redis
    ? instanceHostPorts(settings, COMPOSE_REDIS_INSTANCES).map((hostPort, index) => ({ name: `service-${index + 1}`, hostPort }))
    : [{ name: 'service', hostPort: settings.port }]
  const lines = [
    `# The service beside the mock provider, wired together: \`docker compose up --build\`, then`,
    `# http://localhost:${settings.port}.`,
    ...writtenFor(project),
    ...(redis
      ? [
          `# The instances share one handshake through Redis: one of them calls the provider, the`,
          `# webhook may reach any of them, and every gate opens at once.`,
        ]
      : []),
    `services:`,
    ...instances.flatMap((instance, index) => composeService(project, instance, index === 0)),
    `  # The mock provider, from the Dockerfile's dev target: the production image carries none.`,
    `  provider:`,
    `    build:`,
    `      context: .`,
    `      target: dev`,
    `    env_file: .env`,
    `    environment:`,
    `      PROVIDER_HOST: 0.0.0.0`,
    `      PROVIDER_PORT: "${settings.providerPort}"`,
    `    ports:`,
    `      - "${settings.providerPort}:${settings.providerPort}"`,
    `    healthcheck:`,
    `      test: [CMD, node, -e, ${nodeFetchCheck(`http://127.0.0.1:${settings.providerPort}${PROVIDER_ROUTES.stats}`)}]`,
    `      interval: 5s`,
    `      timeout: 3s`,
    `      start_period: 10s`,
    `      retries: 3`,
    ...(redis
      ? [
          `  # Not published: the instances reach it by name, and a Redis of your own may hold 6379.`,
          `  redis:`,
          `    image: redis:7-alpine`,
          `    healthcheck:`,
          `      test: [CMD, redis-cli, ping]`,
          `      interval: 5s`,
          `      timeout: 3s`,
          `      retries: 5`,
        ]
      : []),
  ]
  return `${lines.join('\n')}\n`
}

function composeService({ settings, redis }: Project, instance: { name: string; hostPort: number }, first: boolean): string[] {
  const { port, providerPort } = settings
  const explained = (comment: string[]) => (first ? comment : [])
  return [
    `  ${instance.name}:`,
    `    build:`,
    `      context: .`,
    `      target: production`,
    ...explained([
      `    # WEBHOOK_SECRET from .env at run time (\`gatekeep dev\` creates it in a fresh clone);`,
      `    # .dockerignore keeps it out of the image.`,
    ]),
    `    env_file: .env`,
    ...explained([
      `    # These win over .env, where a port or URL set for this machine must not reach a container.`,
      `    # PUBLIC_URL: inside a container, where the service listens (0.0.0.0) is no address the`,
      `    # provider can call back.`,
    ]),
    `    environment:`,
    `      HOST: 0.0.0.0`,
    `      PORT: "${port}"`,
    `      PUBLIC_URL: http://${instance.name}:${port}`,
    `      PROVIDER_URL: http://provider:${providerPort}`,
    ...(redis ? [`      REDIS_URL: redis://redis:6379`] : []),
    `      PROVIDER_TIMEOUT_MS: "${SERVICE_DEFAULTS.providerTimeoutMs}"`,
    ...explained([`      # No load balancer to drain from here.`]),
    `      SHUTDOWN_DRAIN_MS: "${SERVICE_DEFAULTS.shutdownDrainMs}"`,
    `    ports:`,
    `      - "${instance.hostPort}:${port}"`,
    ...explained([
      `    # Liveness, as the image's HEALTHCHECK: a gate still waiting for the provider is no reason to`,
      `    # call the container unhealthy (Swarm would replace it mid-handshake). /health/ready tells`,
      `    # whether it serves customers.`,
    ]),
    `    healthcheck:`,
    `      test: [CMD, node, -e, ${nodeFetchCheck(`http://127.0.0.1:${port}${HEALTH_ROUTES.live}`)}]`,
    `      interval: 10s`,
    `      timeout: 3s`,
    `      start_period: 10s`,
    `      retries: 3`,
    ...explained([
      `    # SHUTDOWN_DRAIN_MS, then a provider call running to PROVIDER_TIMEOUT_MS, then ${CLOSE_MARGIN_S} s to`,
      `    # close and exit.`,
    ]),
    `    stop_grace_period: ${shutdownSeconds(SERVICE_DEFAULTS.shutdownDrainMs)}s`,
    `    depends_on:`,
    `      provider:`,
    `        condition: service_healthy`,
    ...(redis ? [`      redis:`, `        condition: service_healthy`] : []),
  ]
}

// ── deploy/kubernetes/ ──────────────────────────────────────────────────────────────────────

function kubernetesHeader(project: Project, what: string): string[] {
  return [`# ${what}.`, `# \`kubectl apply -f deploy/kubernetes/\` applies every file here.`, ...writtenFor(project)]
}

function labels(app: string, indent: string): string[] {
  return [`${indent}app.kubernetes.io/name: ${app}`]
}

function kubernetesDeployment(project: Project): string {
  const { app, settings, redis } = project
  // With the preStop sleep as the drain, the service's own drain is 0.
  const drainMs = 0
  const lines = [
    ...kubernetesHeader(project, 'The service on Kubernetes'),
    `#`,
    `# The webhook secret comes from a Secret that no file here holds. Create it from the secret`,
    `# your provider signs webhooks with${redis ? ', and your Redis address' : ''}:`,
    `#   kubectl create secret generic ${app} \\`,
    ...(redis
      ? [
          `#     --from-literal=WEBHOOK_SECRET='<whsec_... from your provider>' \\`,
          `#     --from-literal=REDIS_URL='<redis:// or rediss:// URL, with its password>'`,
        ]
      : [`#     --from-literal=WEBHOOK_SECRET='<whsec_... from your provider>'`]),
    `# The image is the Dockerfile's production target (\`docker build -t ${app} .\`), pushed where`,
    `# your cluster pulls from: put its name and tag below.`,
    `apiVersion: apps/v1`,
    `kind: Deployment`,
    `metadata:`,
    `  name: ${app}`,
    `  labels:`,
    ...labels(app, '    '),
    `spec:`,
    ...(redis
      ? [
          `  # The instances share one handshake through Redis (REDIS_URL): one of them calls the`,
          `  # provider, the webhook may reach any, every pod's gate opens at once, and a pod started`,
          `  # later opens from the stored key. The autoscaler below adds more.`,
          `  replicas: ${KUBERNETES_REDIS_REPLICAS}`,
          `  # A new pod opens from the stored key, so a rolling update never leaves the service unready.`,
          `  strategy:`,
          `    type: RollingUpdate`,
          `    rollingUpdate:`,
          `      maxSurge: 1`,
          `      maxUnavailable: 0`,
        ]
      : [
          `  # One replica: with the memory store each pod runs its own handshake and keeps its key to`,
          `  # itself, so a webhook reaching another pod would be stale there. More replicas need a`,
          `  # project made with \`gatekeep init --store redis\`.`,
          `  replicas: 1`,
          `  # For the same reason two pods never run at once, not even during an update.`,
          `  strategy:`,
          `    type: Recreate`,
        ]),
    `  selector:`,
    `    matchLabels:`,
    ...labels(app, '      '),
    `  template:`,
    `    metadata:`,
    `      labels:`,
    ...labels(app, '        '),
    `    spec:`,
    `      # The preStop sleep (${PRE_STOP_SLEEP_S} s), then SHUTDOWN_DRAIN_MS, a provider call running to`,
    `      # PROVIDER_TIMEOUT_MS, and ${CLOSE_MARGIN_S} s to close and exit.`,
    `      terminationGracePeriodSeconds: ${PRE_STOP_SLEEP_S + shutdownSeconds(drainMs)}`,
    `      securityContext:`,
    `        runAsNonRoot: true`,
    `        # The image's \`node\` user; a numeric id lets the kubelet check that it is not root.`,
    `        runAsUser: 1000`,
    `      containers:`,
    `        - name: service`,
    `          image: ${app}:latest`,
    `          ports:`,
    `            - name: http`,
    `              containerPort: ${settings.port}`,
    `          env:`,
    `            - name: HOST`,
    `              value: 0.0.0.0`,
    `            - name: PORT`,
    `              value: "${settings.port}"`,
    `            # Where the provider calls back (PUBLIC_URL/webhook): an ingress routing /webhook to the`,
    `            # Service "${app}-webhook" (service.yaml). Replace both URLs with your own.`,
    `            - name: PUBLIC_URL`,
    `              value: https://${app}.example.com`,
    `            - name: PROVIDER_URL`,
    `              value: https://provider.example.com`,
    `            - name: PROVIDER_TIMEOUT_MS`,
    `              value: "${SERVICE_DEFAULTS.providerTimeoutMs}"`,
    `            # The preStop sleep is the drain: a second one here would only delay the shutdown.`,
    `            - name: SHUTDOWN_DRAIN_MS`,
    `              value: "${drainMs}"`,
    `            - name: WEBHOOK_SECRET`,
    `              valueFrom:`,
    `                secretKeyRef:`,
    `                  name: ${app}`,
    `                  key: WEBHOOK_SECRET`,
    ...(redis
      ? [
          `            - name: REDIS_URL`,
          `              valueFrom:`,
          `                secretKeyRef:`,
          `                  name: ${app}`,
          `                  key: REDIS_URL`,
        ]
      : []),
    `          # The service listens within a second; this allows 30 before liveness takes over.`,
    `          startupProbe:`,
    `            httpGet:`,
    `              path: ${HEALTH_ROUTES.live}`,
    `              port: http`,
    `            periodSeconds: 1`,
    `            failureThreshold: 30`,
    `          # Ready once the gate is open; unready while it is closed, under pressure or shutting down.`,
    `          readinessProbe:`,
    `            httpGet:`,
    `              path: ${HEALTH_ROUTES.ready}`,
    `              port: http`,
    `            periodSeconds: 5`,
    `            timeoutSeconds: 2`,
    `            failureThreshold: 2`,
    `          # 200 whatever the gate does: a restart would only start the handshake over.`,
    `          livenessProbe:`,
    `            httpGet:`,
    `              path: ${HEALTH_ROUTES.live}`,
    `              port: http`,
    `            periodSeconds: 10`,
    `            timeoutSeconds: 3`,
    `            failureThreshold: 3`,
    `          lifecycle:`,
    `            # Keeps serving while the pod's endpoint is removed, so no request reaches it after it`,
    `            # stops accepting. Exec rather than the newer sleep action, for clusters before 1.30.`,
    `            preStop:`,
    `              exec:`,
    `                command: [sleep, "${PRE_STOP_SLEEP_S}"]`,
    `          resources:`,
    `            requests:`,
    `              cpu: 100m`,
    `              memory: 128Mi`,
    `            limits:`,
    `              memory: 256Mi`,
    `          securityContext:`,
    `            allowPrivilegeEscalation: false`,
    `            readOnlyRootFilesystem: true`,
    `            capabilities:`,
    `              drop: [ALL]`,
    ...(redis
      ? [
          `---`,
          `# More pods under load, sharing the handshake through Redis; never fewer than the replicas above.`,
          `apiVersion: autoscaling/v2`,
          `kind: HorizontalPodAutoscaler`,
          `metadata:`,
          `  name: ${app}`,
          `  labels:`,
          ...labels(app, '    '),
          `spec:`,
          `  scaleTargetRef:`,
          `    apiVersion: apps/v1`,
          `    kind: Deployment`,
          `    name: ${app}`,
          `  minReplicas: ${KUBERNETES_REDIS_REPLICAS}`,
          `  maxReplicas: ${KUBERNETES_MAX_REPLICAS}`,
          `  metrics:`,
          `    - type: Resource`,
          `      resource:`,
          `        name: cpu`,
          `        target:`,
          `          type: Utilization`,
          `          averageUtilization: 70`,
        ]
      : []),
  ]
  return `${lines.join('\n')}\n`
}

function kubernetesServices(project: Project): string {
  const { app, redis } = project
  const service = (name: string, extra: string[]) => [
    `apiVersion: v1`,
    `kind: Service`,
    `metadata:`,
    `  name: ${name}`,
    `  labels:`,
    ...labels(app, '    '),
    `spec:`,
    ...extra,
    `  selector:`,
    ...labels(app, '    '),
    `  ports:`,
    `    - name: http`,
    `      port: 80`,
    `      targetPort: http`,
  ]
  const lines = [
    ...kubernetesHeader(project, 'Two Services for the same pods'),
    `#`,
    `# "${app}" is for customers: it holds ready pods only, those whose gate is open.`,
    ...service(app, []),
    `---`,
    `# "${app}-webhook" is for the provider's callback: route PUBLIC_URL/webhook here from your`,
    `# ingress. A pod is unready until its webhook arrives, so the customers' Service would never`,
    `# deliver it; this one holds every pod${redis ? ' (any of them may take the webhook: Redis shares it)' : ''}.`,
    ...service(`${app}-webhook`, [`  publishNotReadyAddresses: true`]),
  ]
  return `${lines.join('\n')}\n`
}

function kubernetesDisruptionBudget(project: Project): string {
  const { app, redis } = project
  const lines = [
    ...kubernetesHeader(project, 'The pods a node drain or a cluster upgrade may take at once'),
    `#`,
    ...(redis
      ? [`# One at a time, so that the others keep serving.`]
      : [
          `# With one replica nothing stronger is possible: a budget that kept the pod would block every`,
          `# node drain. A drained pod's replacement is unready until its own handshake completes.`,
        ]),
    `apiVersion: policy/v1`,
    `kind: PodDisruptionBudget`,
    `metadata:`,
    `  name: ${app}`,
    `  labels:`,
    ...labels(app, '    '),
    `spec:`,
    `  maxUnavailable: 1`,
    `  selector:`,
    `    matchLabels:`,
    ...labels(app, '      '),
  ]
  return `${lines.join('\n')}\n`
}
