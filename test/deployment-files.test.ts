// The deployment files `gatekeep init` writes (docker-compose.yml, deploy/kubernetes/), parsed
// and held to the project's settings and the service's own defaults and routes. Nothing here
// can start a container: these tests read the files, as Compose and kubectl would.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import { parse, parseAllDocuments } from 'yaml'
import { COMPOSE_FILE, KUBERNETES_FILES, SERVICE_DEFAULTS, kubernetesName, renderDeploymentFiles } from '../src/init/deployment.js'
import { PROVIDER_ROUTES } from '../src/project/contract.js'
import { TEMPLATE_PACKAGE_NAME } from '../src/init/render.js'
import type { ProjectSettings } from '../src/project/settings.js'
import app, { serverOptions } from '../templates/service/src/app.js'
import { loadConfig } from '../templates/service/src/config.js'
import { runGatekeep, templateDir } from './helpers/gatekeep.js'
import { tempDir } from './helpers/temp.js'

const TIMEOUT = { timeout: 30_000 }
const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const SECRET_LINE = /^WEBHOOK_SECRET=(.+)$/m
/** The service's probes (DESIGN section 3). */
const PROBES = { live: '/health/live', ready: '/health/ready' } as const
/** Anything that looks like a real Standard Webhooks secret rather than a placeholder. */
const SECRET_LIKE = /whsec_[A-Za-z0-9+/]{16,}/

/** The service's defaults, as its own config reads them with nothing set. */
const serviceDefaults = loadConfig({ WEBHOOK_SECRET: SECRET }, { name: 'defaults', settings: {} })

interface ComposeService {
  build?: { context: string; target: string }
  image?: string
  env_file?: string
  environment?: Record<string, string>
  ports?: string[]
  healthcheck?: { test: string[] }
  stop_grace_period?: string
  depends_on?: Record<string, { condition: string }>
}

interface Compose {
  services: Record<string, ComposeService>
}

interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string } }
}

interface Probe {
  httpGet: { path: string; port: string }
  periodSeconds: number
  failureThreshold: number
  timeoutSeconds?: number
}

interface Container {
  image: string
  ports: { name: string; containerPort: number }[]
  env: EnvVar[]
  startupProbe: Probe
  readinessProbe: Probe
  livenessProbe: Probe
  lifecycle: { preStop: { exec: { command: string[] } } }
}

interface KubernetesObject {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  spec: Record<string, unknown>
}

interface DeploymentSpec {
  replicas: number
  strategy: { type: string }
  selector: { matchLabels: Record<string, string> }
  template: {
    metadata: { labels: Record<string, string> }
    spec: { terminationGracePeriodSeconds: number; containers: Container[] }
  }
}

interface ServiceSpec {
  selector: Record<string, string>
  ports: { port: number; targetPort: string | number }[]
  publishNotReadyAddresses?: boolean
}

interface Generated {
  root: string
  settings: ProjectSettings
  /** What init put in .env. */
  secret: string
  /** The deployment files' text, by project path. */
  texts: Map<string, string>
  compose: Compose
  kubernetes: KubernetesObject[]
}

/** `gatekeep init orders` with these settings, and its deployment files read back and parsed. */
async function generate(t: TestContext, settings: ProjectSettings): Promise<Generated> {
  const cwd = tempDir(t)
  const args = ['--port', String(settings.port), '--provider-port', String(settings.providerPort), '--store', settings.store]
  const result = await runGatekeep(['init', 'orders', '--yes', ...args], { cwd })
  assert.equal(result.code, 0, result.stderr)
  const root = path.join(cwd, 'orders')
  const secret = SECRET_LINE.exec(readFileSync(path.join(root, '.env'), 'utf8'))?.[1]
  assert.ok(secret, '.env holds the secret')
  const kubernetesDir = path.join(root, 'deploy', 'kubernetes')
  const kubernetesFiles = readdirSync(kubernetesDir).sort().map((file) => `deploy/kubernetes/${file}`)
  assert.deepEqual(kubernetesFiles, Object.values(KUBERNETES_FILES).sort())
  const texts = new Map([COMPOSE_FILE, ...kubernetesFiles].map((file) => [file, readFileSync(path.join(root, file), 'utf8')]))
  const kubernetes = kubernetesFiles.flatMap((file) =>
    parseAllDocuments(texts.get(file) ?? '').map((document) => {
      assert.deepEqual(document.errors, [], file)
      return document.toJS() as KubernetesObject
    }),
  )
  return { root, settings, secret, texts, compose: parse(texts.get(COMPOSE_FILE) ?? '') as Compose, kubernetes }
}

/** A Compose duration (`10s`, `1m30s`) in seconds. */
function durationSeconds(duration: string | undefined): number {
  assert.match(duration ?? '', /^(\d+h)?(\d+m)?(\d+s)?$/)
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 }
  let total = 0
  for (const [, amount, unit] of (duration ?? '').matchAll(/(\d+)([hms])/g)) total += Number(amount) * (units[unit as string] ?? 0)
  return total
}

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `exactly one ${what}`)
  return items[0] as T
}

function objectsOf(kubernetes: KubernetesObject[], kind: string): KubernetesObject[] {
  return kubernetes.filter((object) => object.kind === kind)
}

/** The service's Deployment and its one container. */
function deploymentOf({ kubernetes }: Generated): { deployment: KubernetesObject; spec: DeploymentSpec; container: Container } {
  const deployment = only(objectsOf(kubernetes, 'Deployment'), 'Deployment')
  const spec = deployment.spec as unknown as DeploymentSpec
  return { deployment, spec, container: only(spec.template.spec.containers, 'container') }
}

function envValue(container: Container, name: string): string | undefined {
  return container.env.find((variable) => variable.name === name)?.value
}

/** A variable taken from the Deployment's Secret, never written in the manifest. */
function assertFromSecret(container: Container, name: string, secretName: string): void {
  const variable = only(container.env.filter((entry) => entry.name === name), name)
  assert.equal(variable.value, undefined, `${name} has no value in the manifest`)
  assert.deepEqual(variable.valueFrom?.secretKeyRef, { name: secretName, key: name })
}

/** An instance of the service in docker-compose.yml, wired to the provider (and Redis). */
function assertComposeInstance(compose: Compose, name: string, settings: ProjectSettings): ComposeService {
  const service = compose.services[name]
  assert.ok(service, `service ${name}`)
  assert.deepEqual(service.build, { context: '.', target: 'production' })
  assert.equal(service.env_file, '.env', 'the secret comes from .env at run time')
  const environment = service.environment ?? {}
  assert.equal(environment.HOST, '0.0.0.0')
  assert.equal(environment.PORT, String(settings.port))
  assert.equal(environment.PUBLIC_URL, `http://${name}:${settings.port}`, 'the provider calls back by the container name')
  assert.equal(environment.PROVIDER_URL, `http://provider:${settings.providerPort}`)
  assert.equal(environment.WEBHOOK_SECRET, undefined)
  assert.equal(Number(environment.PROVIDER_TIMEOUT_MS), serviceDefaults.providerTimeoutMs)
  assert.equal(Number(environment.SHUTDOWN_DRAIN_MS), serviceDefaults.shutdownDrainMs)
  assert.equal(only(service.ports ?? [], `${name} port`).split(':')[1], String(settings.port))
  const check = service.healthcheck?.test ?? []
  assert.deepEqual(check.slice(0, 3), ['CMD', 'node', '-e'], 'the image has node, not curl')
  assert.match(check[3] ?? '', new RegExp(`fetch\\('http://127\\.0\\.0\\.1:${settings.port}${PROBES.live}'\\)`))
  const drainAndTimeoutS = (serviceDefaults.shutdownDrainMs + serviceDefaults.providerTimeoutMs) / 1000
  assert.ok(durationSeconds(service.stop_grace_period) > drainAndTimeoutS, `${name}'s grace covers the drain and a provider call`)
  assert.deepEqual(service.depends_on?.provider, { condition: 'service_healthy' })
  return service
}

function assertComposeProvider(compose: Compose, settings: ProjectSettings): void {
  const provider = compose.services.provider
  assert.ok(provider, 'the mock provider')
  assert.deepEqual(provider.build, { context: '.', target: 'dev' }, 'the production image carries no mock provider')
  assert.equal(provider.env_file, '.env', 'it signs with the same secret')
  assert.equal(provider.environment?.PROVIDER_HOST, '0.0.0.0')
  assert.equal(provider.environment?.PROVIDER_PORT, String(settings.providerPort))
  assert.deepEqual(provider.ports, [`${settings.providerPort}:${settings.providerPort}`])
  assert.match(provider.healthcheck?.test[3] ?? '', new RegExp(`http://127\\.0\\.0\\.1:${settings.providerPort}${PROVIDER_ROUTES.stats}`))
}

/** Probes, port, grace and the secret of the Deployment, and the Services and budget that select its pods. */
function assertKubernetes(generated: Generated): { spec: DeploymentSpec; container: Container } {
  const { settings, kubernetes } = generated
  const { deployment, spec, container } = deploymentOf(generated)
  const app = deployment.metadata.name
  assert.equal(app, 'orders')
  const podLabels = spec.template.metadata.labels
  assert.deepEqual(spec.selector.matchLabels, podLabels)

  assert.deepEqual(container.ports, [{ name: 'http', containerPort: settings.port }])
  assert.equal(envValue(container, 'PORT'), String(settings.port))
  assert.equal(envValue(container, 'HOST'), '0.0.0.0')
  assert.match(envValue(container, 'PUBLIC_URL') ?? '', /^https?:\/\//)
  assert.match(envValue(container, 'PROVIDER_URL') ?? '', /^https?:\/\//)
  assertFromSecret(container, 'WEBHOOK_SECRET', app)

  assert.deepEqual(container.readinessProbe.httpGet, { path: PROBES.ready, port: 'http' })
  assert.deepEqual(container.livenessProbe.httpGet, { path: PROBES.live, port: 'http' })
  assert.deepEqual(container.startupProbe.httpGet, { path: PROBES.live, port: 'http' })
  // Sane thresholds: readiness reacts within seconds, liveness tolerates a few slow answers.
  assert.ok(container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold <= 15)
  assert.ok(container.livenessProbe.failureThreshold >= 3)
  assert.ok((container.livenessProbe.timeoutSeconds ?? 1) < container.livenessProbe.periodSeconds)

  // One drain, not two: the preStop sleep is it, so the service's own is 0.
  const [sleep, sleepSeconds] = container.lifecycle.preStop.exec.command
  assert.equal(sleep, 'sleep')
  assert.ok(Number(sleepSeconds) >= 5, 'the preStop sleep covers the endpoint removal')
  assert.equal(envValue(container, 'SHUTDOWN_DRAIN_MS'), '0')
  const providerTimeoutMs = Number(envValue(container, 'PROVIDER_TIMEOUT_MS'))
  assert.equal(providerTimeoutMs, serviceDefaults.providerTimeoutMs)
  assert.ok(
    spec.template.spec.terminationGracePeriodSeconds > Number(sleepSeconds) + providerTimeoutMs / 1000,
    'the grace covers the preStop sleep and a provider call',
  )

  const services = objectsOf(kubernetes, 'Service')
  assert.deepEqual(services.map((service) => service.metadata.name).sort(), [app, `${app}-webhook`])
  for (const service of services) {
    const serviceSpec = service.spec as unknown as ServiceSpec
    assert.deepEqual(serviceSpec.selector, podLabels)
    assert.equal(only(serviceSpec.ports, 'port').targetPort, 'http')
    // The webhook must reach a pod whose gate is closed, which readiness keeps out of the other.
    assert.equal(serviceSpec.publishNotReadyAddresses ?? false, service.metadata.name === `${app}-webhook`)
  }
  const budget = only(objectsOf(kubernetes, 'PodDisruptionBudget'), 'PodDisruptionBudget')
  assert.deepEqual((budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels)
  assert.equal(objectsOf(kubernetes, 'Secret').length, 0, 'no Secret, even a placeholder: it is created with kubectl')
  return { spec, container }
}

test('memory store: docker-compose.yml runs one service beside the mock provider, on the project ports', TIMEOUT, async (t) => {
  const generated = await generate(t, { port: 3710, providerPort: 4710, delay: 5000, store: 'memory' })
  const { compose, settings } = generated
  assert.deepEqual(Object.keys(compose.services).sort(), ['provider', 'service'])
  assert.deepEqual(assertComposeInstance(compose, 'service', settings).ports, ['3710:3710'])
  assertComposeProvider(compose, settings)
})

test('redis store: docker-compose.yml adds Redis and two instances sharing it, on host ports clear of the provider', TIMEOUT, async (t) => {
  // The provider takes the port next to the service's, where a second instance would go.
  const generated = await generate(t, { port: 3720, providerPort: 3721, delay: 5000, store: 'redis' })
  const { compose, settings } = generated
  assert.deepEqual(Object.keys(compose.services).sort(), ['provider', 'redis', 'service-1', 'service-2'])
  const hostPorts = ['service-1', 'service-2'].map((name) => {
    const instance = assertComposeInstance(compose, name, settings)
    assert.equal(instance.environment?.REDIS_URL, 'redis://redis:6379')
    assert.deepEqual(instance.depends_on?.redis, { condition: 'service_healthy' })
    return Number(instance.ports?.[0]?.split(':')[0])
  })
  assert.equal(hostPorts[0], settings.port)
  assert.equal(new Set([...hostPorts, settings.providerPort]).size, 3, `host ports ${hostPorts.join(', ')} clash`)
  assertComposeProvider(compose, settings)
  assert.match(compose.services.redis?.image ?? '', /^redis:/)
  assert.match(generated.texts.get(COMPOSE_FILE) ?? '', /share one handshake through Redis/)
})

test('memory store: Kubernetes runs one replica, never two at once, and says more need --store redis', TIMEOUT, async (t) => {
  const generated = await generate(t, { port: 3730, providerPort: 4730, delay: 5000, store: 'memory' })
  const { spec, container } = assertKubernetes(generated)
  assert.equal(spec.replicas, 1)
  assert.equal(spec.strategy.type, 'Recreate')
  assert.equal(envValue(container, 'REDIS_URL'), undefined)
  assert.equal(container.env.some((variable) => variable.name === 'REDIS_URL'), false)
  assert.equal(objectsOf(generated.kubernetes, 'HorizontalPodAutoscaler').length, 0)
  assert.match(generated.texts.get(KUBERNETES_FILES.deployment) ?? '', /More replicas need a\s+#\s+project made with `gatekeep init --store redis`/)
})

test('redis store: Kubernetes runs two replicas or more, REDIS_URL from the Secret, one handshake through Redis', TIMEOUT, async (t) => {
  const generated = await generate(t, { port: 3740, providerPort: 4740, delay: 5000, store: 'redis' })
  const { spec, container } = assertKubernetes(generated)
  assert.ok(spec.replicas >= 2)
  assert.equal(spec.strategy.type, 'RollingUpdate')
  assertFromSecret(container, 'REDIS_URL', 'orders')
  const autoscaler = only(objectsOf(generated.kubernetes, 'HorizontalPodAutoscaler'), 'HorizontalPodAutoscaler')
  const scaling = autoscaler.spec as { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number }
  assert.deepEqual({ kind: scaling.scaleTargetRef.kind, name: scaling.scaleTargetRef.name }, { kind: 'Deployment', name: 'orders' })
  assert.ok(scaling.minReplicas >= 2 && scaling.maxReplicas >= scaling.minReplicas)
  assert.match(generated.texts.get(KUBERNETES_FILES.deployment) ?? '', /share one handshake through Redis/)
})

test('no deployment file holds a secret, and the image gets none', TIMEOUT, async (t) => {
  for (const store of ['memory', 'redis'] as const) {
    const { root, secret, texts } = await generate(t, { port: 3750, providerPort: 4750, delay: 5000, store })
    for (const [file, text] of [...texts, ['Dockerfile', readFileSync(path.join(root, 'Dockerfile'), 'utf8')] as const]) {
      assert.equal(text.includes(secret), false, `${store}: ${file} holds the project's secret`)
      assert.doesNotMatch(text, SECRET_LIKE, `${store}: ${file}`)
      assert.doesNotMatch(text, /^[^#\n]*\bWEBHOOK_SECRET\s*[:=]\s*\S/m, `${store}: ${file} sets WEBHOOK_SECRET`)
    }
    assert.match(readFileSync(path.join(root, '.dockerignore'), 'utf8'), /^\.env$/m)
  }
})

test("the Dockerfile's dev target runs `npm run provider`'s command; production, the default, is last", TIMEOUT, () => {
  const dockerfile = readFileSync(path.join(templateDir, 'Dockerfile'), 'utf8')
  const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((match) => match[1])
  assert.equal(stages.at(-1), 'production')
  assert.ok(stages.includes('dev'))
  const devStage = dockerfile.slice(dockerfile.indexOf(' AS dev\n'), dockerfile.indexOf('\nFROM ', dockerfile.indexOf(' AS dev\n')))
  const command = /^CMD (\[.*\])$/m.exec(devStage)?.[1]
  const manifest = JSON.parse(readFileSync(path.join(templateDir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  assert.equal((JSON.parse(command ?? '[]') as string[]).join(' '), manifest.scripts.provider)
  const production = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  assert.deepEqual([...production.matchAll(/--from=(\S+)/g)].map((match) => match[1]).filter((from) => from !== 'build'), [], 'production copies from the build stage only')
})

test("the template's deployment files are what init writes for the template's own package.json", TIMEOUT, () => {
  const manifest = JSON.parse(readFileSync(path.join(templateDir, 'package.json'), 'utf8')) as { name: string; gatekeep: ProjectSettings }
  assert.equal(manifest.name, TEMPLATE_PACKAGE_NAME)
  for (const [file, content] of renderDeploymentFiles({ name: manifest.name, settings: manifest.gatekeep })) {
    assert.equal(
      readFileSync(path.join(templateDir, file), 'utf8'),
      content,
      `templates/service/${file} differs from what src/init/deployment.ts writes for the template: update it`,
    )
  }
})

test("the files' defaults and probes are the service's own", TIMEOUT, async (t) => {
  assert.equal(SERVICE_DEFAULTS.providerTimeoutMs, serviceDefaults.providerTimeoutMs)
  assert.equal(SERVICE_DEFAULTS.shutdownDrainMs, serviceDefaults.shutdownDrainMs)
  const config = loadConfig({ WEBHOOK_SECRET: SECRET, PROVIDER_URL: 'http://127.0.0.1:9' }, { name: 'probes', settings: {} })
  const server = Fastify({ ...serverOptions(config), logger: false })
  t.after(() => server.close())
  await server.register(app, { config })
  await server.ready()
  for (const url of Object.values(PROBES)) assert.ok(server.hasRoute({ method: 'GET', url }), url)
})

test('Kubernetes names are RFC 1035 labels made from the package name', TIMEOUT, () => {
  assert.equal(kubernetesName('orders'), 'orders')
  assert.equal(kubernetesName('@acme/orders.api_v2'), 'acme-orders-api-v2')
  assert.equal(kubernetesName('3d-printing'), 'svc-3d-printing')
  const long = kubernetesName(`a${'-b'.repeat(60)}`)
  assert.ok(long.length <= 55 && /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(long), long)
})

test("the template README's Deployment section names each file, its grace periods, and that none was run", TIMEOUT, () => {
  const readme = readFileSync(path.join(templateDir, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Deployment\n')
  assert.notEqual(start, -1, 'a Deployment section')
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  for (const file of [COMPOSE_FILE, 'deploy/kubernetes/', ...Object.values(KUBERNETES_FILES).map((file) => path.basename(file))]) {
    assert.ok(section.includes(`\`${file}\``), `names ${file}`)
  }
  const compose = parse(readFileSync(path.join(templateDir, COMPOSE_FILE), 'utf8')) as Compose
  assert.ok(section.includes(`\`stop_grace_period\` (${durationSeconds(compose.services.service?.stop_grace_period)} s)`))
  const deployment = parseAllDocuments(readFileSync(path.join(templateDir, KUBERNETES_FILES.deployment), 'utf8'))[0]?.toJS() as KubernetesObject
  const pod = (deployment.spec as unknown as DeploymentSpec).template.spec
  assert.ok(section.includes(`\`terminationGracePeriodSeconds\` (${pod.terminationGracePeriodSeconds})`))
  assert.ok(section.includes(`sleep of ${pod.containers[0]?.lifecycle.preStop.exec.command[1]} s`))
  assert.match(section, /not run[^.]*no container runtime/)
})
