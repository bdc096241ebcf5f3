import type { FastifyInstance } from 'fastify'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { z } from 'zod'
import { problems } from '../contract/problem.js'
import './types.js'

const MISNAMED_DEFAULT_GAUGES = ['afb_nodejs_active_handles_total', 'afb_nodejs_active_requests_total', 'afb_nodejs_active_resources_total']

/**
 * Prometheus metrics, as operators expect them: requests and latency by route and status, what
 * detections did, commits by outcome, audit entries and idempotent replays. One registry per app
 * (tests build many apps in one process); the process metrics of prom-client come along.
 */
export class ServiceMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({ name: 'afb_http_requests_total', help: 'HTTP requests answered, by method, route and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] })
  readonly latency = new Histogram({
    name: 'afb_http_request_duration_seconds',
    help: 'Time from the first hook to the response, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })
  readonly detections = new Counter({
    name: 'afb_detections_total',
    help: 'Detections (POST /issues, POST /kpis breaches) by issue type and outcome: created, grouped or superseding',
    labelNames: ['issue_type', 'outcome'],
    registers: [this.registry],
  })
  readonly commits = new Counter({
    name: 'afb_commits_total',
    help: 'Real commit requests by outcome: committed, unchanged, or the status of a refusal (409 conflict or rejected push, 403, …)',
    labelNames: ['outcome'],
    registers: [this.registry],
  })
  readonly auditEntries = new Counter({ name: 'afb_audit_entries_total', help: 'Audit entries appended', registers: [this.registry] })
  readonly replays = new Counter({ name: 'afb_idempotent_replays_total', help: 'Answers replayed for a repeated Idempotency-Key or webhook-id', registers: [this.registry] })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'afb_' })
    // prom-client names three gauges *_total, which Prometheus reserves for counters (promtool
    // check metrics warns). Each is the sum of a gauge it also exports by type
    // (afb_nodejs_active_handles{type} …), so sum() of that one answers the same question.
    for (const misnamed of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(misnamed)
  }
}

/** Counts every answered request (onResponse). */
export function registerMetrics(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }
    metrics.requests.inc(labels)
    metrics.latency.observe(labels, reply.elapsedTime / 1000)
    if (reply.getHeader('idempotent-replayed') === 'true') metrics.replays.inc()
    if (request.audit?.operation === 'commit.create') {
      metrics.commits.inc({ outcome: reply.statusCode >= 400 ? String(reply.statusCode) : reply.statusCode === 201 ? 'committed' : 'unchanged' })
    }
  })
}

/** GET /metrics (read role, like the other reads); registered after the OpenAPI plugin, which documents only the routes that follow it. */
export function registerMetricsRoute(app: FastifyInstance, metrics: ServiceMetrics): void {
  app.get(
    '/metrics',
    {
      config: { operation: 'metrics', access: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        response: {
          200: { description: 'The metrics, as Prometheus scrapes them', content: { 'text/plain': { schema: z.string() } } },
          ...problems(401, 403),
        },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  )
}
