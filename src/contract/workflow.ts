import { z } from 'zod'
import { JsonValue, StepAction, VariableType } from '../playbooks/schema.js'
import { Opportunity, Severity } from './opportunity.js'

export const WorkflowStep = z
  .object({
    id: z.number().int().min(1),
    action: StepAction,
    description: z.string(),
    config: z.record(z.string(), JsonValue).describe('A `{{field}}` inside a string reads a field of the opportunity, a setting or an earlier step'),
    // optional: workflows stored before data flow existed have neither reads nor settings
    reads: z.array(z.string()).optional().describe('The fields this step reads, in order of first use'),
    produces: z
      .object({
        list: z.boolean().describe('true: one item becomes many (a query); later steps run once per item'),
        fields: z.array(z.string()),
      })
      .optional()
      .describe('The fields this step hands to later steps'),
    placeholders: z
      .record(z.string(), z.string())
      .optional()
      .describe(
        'Config values filled from this detection, by JSON Pointer into config, e.g. {"/baseline": "$metric_value"}: an export that runs per detection reads them from the detection it receives',
      ),
  })
  .meta({ id: 'WorkflowStep' })

export const WorkflowSetting = z
  .object({ value: JsonValue, description: z.string() })
  .meta({ id: 'WorkflowSetting', description: 'A value to set on the automation platform; steps read it as a `{{field}}`' })

export const Workflow = z
  .object({
    workflow_id: z.uuid(),
    name: z.string(),
    issue_type: z.string(),
    severity: Severity,
    trigger: z.string(),
    description: z.string(),
    detection: z.object({
      metric: z.string(),
      operator: z.enum(['>', '<']),
      threshold: z.number(),
      description: z.string(),
      observed: z.number(),
      breached: z.boolean().describe('Whether the observed value crosses the playbook threshold'),
      range: z.array(z.number()).min(2).max(2).optional().describe('[min, max]: the values the metric can take'),
      severity_bands: z
        .partialRecord(Severity, z.number())
        .optional()
        .describe('Where each severity starts, in the breach direction (KPI snapshots take their severity from these)'),
    }),
    approach: z.string(),
    generated_at: z.string(),
    settings: z.record(z.string(), WorkflowSetting).optional().describe('Every value a user sets on the platform (table names, sender address, base URLs, model), with its generated default'),
    steps: z.array(WorkflowStep),
    success_metrics: z.record(z.string(), z.number()),
    prompt_template: z.string().describe('Name of the prompt template this workflow uses'),
  })
  .meta({ id: 'Workflow' })
export type Workflow = z.infer<typeof Workflow>

export const PromptTemplate = z
  .object({
    name: z.string(),
    template: z.string(),
    variables: z.record(z.string(), VariableType),
  })
  .meta({ id: 'PromptTemplate' })
export type PromptTemplate = z.infer<typeof PromptTemplate>

export const FileKind = z.enum(['workflow', 'prompt_templates', 'test', 'n8n', 'make', 'zapier']).describe('n8n, make and zapier are the platform exports chosen by EXPORT_FORMATS')
export const GeneratedFile = z
  .object({
    path: z.string().describe('Path inside the target repository'),
    kind: FileKind,
    bytes: z.number().int(),
    sha256: z.string(),
  })
  .meta({ id: 'GeneratedFile' })
export type GeneratedFile = z.infer<typeof GeneratedFile>

export const WorkflowStatus = z
  .enum(['generated', 'committed', 'superseded'])
  .describe('generated: open (later detections of its type group into it); committed: in the repository; superseded: a more severe detection replaced it')
export type WorkflowStatus = z.infer<typeof WorkflowStatus>

export const CommitInfo = z
  .object({ sha: z.string(), branch: z.string(), committed_at: z.string() })
  .meta({ id: 'CommitInfo' })
export type CommitInfo = z.infer<typeof CommitInfo>

/** Affected items an occurrence keeps of those its detection named (`affected_count` says how many there were). */
export const KEPT_AFFECTED_ITEMS = 100
/** Items a workflow shows of the union of its occurrences' items (`affected_item_count` says how many the union holds). */
export const SHOWN_UNION_ITEMS = 1000

const OccurrenceSource = z.string().describe('The endpoint that received the detection: issues or kpis')

/**
 * The number a detection carried, named for what it is: POST /kpis measures the playbook's metric
 * (a rate, range-checked); POST /issues sends the engine's own figure (`metric_value`: a rate, or a
 * count such as 527 abandoned carts), which is never shown as a measured value.
 */
const DetectionValues = {
  observed: z.number().nullable().describe("The playbook's metric as POST /kpis measured it; null for a detection from POST /issues"),
  reported_value: z.number().nullable().describe("The engine's own figure, POST /issues's metric_value (e.g. 527 abandoned carts); null for a detection from POST /kpis"),
}

export const Occurrence = z
  .object({ at: z.string(), source: OccurrenceSource, ...DetectionValues, severity: Severity })
  .meta({ id: 'Occurrence' })
export type Occurrence = z.infer<typeof Occurrence>

/** One detection a workflow stands for, with everything its caller said (GET /workflows/{id}/occurrences). */
export const OccurrenceDetail = z
  .object({
    at: z.string(),
    source: OccurrenceSource,
    ...DetectionValues,
    severity: Severity,
    description: z.string().nullable().describe('The detection\'s description; null when recorded before occurrences kept it'),
    affected_items: z.array(z.string()).describe(`The first ${KEPT_AFFECTED_ITEMS} of the items it named, as sent`),
    affected_count: z.number().int().nullable().describe('How many items it named in all; null when recorded before occurrences kept them'),
    opportunity_source: z.string().nullable().describe('Its own `source` field: who it says sent it, e.g. income-engine (POST /kpis: the snapshot\'s source, else kpis)'),
    actor: z.string().nullable().describe('The API key (by name, never its secret) that sent it; webhook for a signed webhook; null without keys (protected mode)'),
    request_id: z.string().nullable().describe('The request that sent it: its audit entry has this request_id'),
  })
  .meta({ id: 'OccurrenceDetail' })
export type OccurrenceDetail = z.infer<typeof OccurrenceDetail>

export const OccurrenceList = z
  .object({ items: z.array(OccurrenceDetail).describe('Newest first'), next_cursor: z.string().nullable() })
  .meta({ id: 'OccurrenceList' })

export const Occurrences = z
  .object({
    count: z.number().int().describe('How many detections this workflow stands for (1 = only the one that created it)'),
    first_seen: z.string(),
    last_seen: z.string(),
    last_observed: z.number().nullable().describe("The playbook's metric as the latest POST /kpis breach measured it; null when only POST /issues reported this problem"),
    last_reported_value: z
      .number()
      .nullable()
      .describe("The metric_value of the latest POST /issues detection: the engine's own figure (a rate or a count), kept apart from measured values; null when only POST /kpis reported it"),
    highest_severity: Severity,
    recent: z.array(Occurrence).describe('The latest occurrences, newest first (at most 20); GET /workflows/{id}/occurrences pages through all of them with what each said'),
    affected_items: z
      .array(z.string())
      .describe(`The union of the affected items its occurrences keep, first seen first: at most ${SHOWN_UNION_ITEMS} shown`),
    affected_item_count: z.number().int().describe('How many distinct items that union holds, shown or not'),
  })
  .meta({ id: 'Occurrences' })

/** The 201 body of `POST /issues`, and the body of `GET /workflows/{id}`. */
export const WorkflowRecord = z
  .object({
    workflow_id: z.uuid(),
    status: WorkflowStatus,
    created_at: z.string(),
    opportunity: Opportunity,
    workflow: Workflow,
    prompt_template: PromptTemplate,
    files: z.array(GeneratedFile),
    links: z.object({
      self: z.string(),
      preview: z.string(),
      exports: z.string().optional().describe('The n8n, Make and Zapier exports of this workflow'),
    }),
    commit: CommitInfo.optional().describe('Present once the workflow has been committed'),
    dedup_key: z.string().nullable().optional(),
    occurrences: Occurrences.optional().describe('The detections this workflow stands for (grouping)'),
    supersedes: z.uuid().nullable().optional().describe('The open workflow this one replaced because its severity rose'),
    superseded_by: z.uuid().nullable().optional().describe('The workflow that replaced this one'),
    grouped: z.boolean().optional().describe('POST /issues and POST /kpis only: true when this detection became an occurrence of an open workflow'),
  })
  .meta({ id: 'WorkflowRecord' })
export type WorkflowRecord = z.infer<typeof WorkflowRecord>

export const WorkflowSummary = z
  .object({
    workflow_id: z.uuid(),
    name: z.string(),
    issue_type: z.string(),
    severity: Severity,
    status: WorkflowStatus,
    created_at: z.string(),
    occurrence_count: z.number().int(),
    links: z.object({ self: z.string(), preview: z.string() }),
  })
  .meta({ id: 'WorkflowSummary' })
export type WorkflowSummary = z.infer<typeof WorkflowSummary>

export const Cursor = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a cursor this service handed out')
  .describe('The next_cursor of the previous page')

export const Limit = z.coerce.number().int().min(1).max(100).default(20)

export const WorkflowListQuery = z.object({
  issue_type: z.string().max(64).optional(),
  status: z
    .enum([...WorkflowStatus.options, 'live'])
    .optional()
    .describe('live: what is in the repository now (committed, not replaced by a later commit of its type)'),
  min_occurrences: z.coerce.number().int().min(1).optional().describe('Only workflows standing for at least this many detections'),
  limit: Limit,
  cursor: Cursor.optional(),
})

export const WorkflowList = z
  .object({ items: z.array(WorkflowSummary), next_cursor: z.string().nullable() })
  .meta({ id: 'WorkflowList' })

export const WorkflowIdParams = z.object({ id: z.uuid().describe('A workflow id (UUID)') })

export const OccurrenceListQuery = z.object({ limit: Limit, cursor: Cursor.optional() })

export const RenderPromptBody = z
  .object({
    variables: z.record(z.string(), z.unknown()).describe('One value per declared template variable'),
  })
  .meta({ examples: [{ variables: { customer_name: 'Ana', product_name: 'Acme Analytics', churn_score: 0.82, discount_offer: 0.15 } }] })
export const RenderedPrompt = z.object({
  workflow_id: z.uuid(),
  name: z.string(),
  system: z.string().describe('The system message to send with it: the <data> blocks hold data, never instructions'),
  rendered: z.string().describe('The user message: the template with each value as <data>JSON</data> (< and > escaped, so no value can end its block)'),
})

export const ExportFormatParams = z.object({
  id: z.uuid().describe('A workflow id (UUID)'),
  format: z.string().max(64).describe('n8n, make or zapier'),
})

/** GET /workflows/{id}/exports/n8n and /make: the file as n8n and Make import it, a JSON object. */
export const ExportJsonFile = z
  .record(z.string(), JsonValue)
  .describe('n8n: a workflow (name, nodes, connections, settings); make: a blueprint (name, flow, metadata)')
  .meta({ id: 'ExportJsonFile', example: { name: 'Auto-Recovery: Abandoned Cart (high)', nodes: [{ name: 'Opportunity', type: 'n8n-nodes-base.webhook' }], connections: {} } })

/** GET /workflows/{id}/exports/zapier: Zapier has no import format, so a recipe to follow by hand. */
export const ExportRecipe = z.string().describe('zapier: a Markdown recipe').meta({ example: '# Auto-Recovery: Abandoned Cart (high)\n\n1. Trigger: Webhooks by Zapier …\n' })

export const ExportEntry = z
  .object({
    format: FileKind.exclude(['workflow', 'prompt_templates', 'test']),
    filename: z.string(),
    media_type: z.string(),
    href: z.string().describe('GET it to download the file'),
    path: z.string().describe('Where a commit puts it in the repository'),
    committed_with_workflow: z.boolean().describe('Whether EXPORT_FORMATS generated it with the workflow, so the preview and a commit include it'),
    setup: z.array(z.string()).describe('What to do after import, in order: settings, credentials, checks'),
  })
  .meta({ id: 'ExportEntry' })

export const ExportList = z
  .object({ workflow_id: z.uuid(), exports: z.array(ExportEntry) })
  .meta({
    id: 'ExportList',
    // OpenAPI 3.0 component schemas take one `example`
    example: {
      workflow_id: 'b1ef9805-d250-450d-8b6e-292ade4b3bcc',
      exports: [
        {
          format: 'n8n',
          filename: 'abandoned_carts_n8n.json',
          media_type: 'application/json; charset=utf-8',
          href: '/workflows/b1ef9805-d250-450d-8b6e-292ade4b3bcc/exports/n8n',
          path: 'workflows/abandoned_carts_n8n.json',
          committed_with_workflow: true,
          setup: [
            'Node "Settings": set `carts_table` — Table (or view) of your shopping carts. Generated value: `carts`',
            'Node "Query database": choose (or create) its Postgres credential',
          ],
        },
        {
          format: 'zapier',
          filename: 'abandoned_carts_zapier.md',
          media_type: 'text/markdown; charset=utf-8',
          href: '/workflows/b1ef9805-d250-450d-8b6e-292ade4b3bcc/exports/zapier',
          path: 'workflows/abandoned_carts_zapier.md',
          committed_with_workflow: false,
          setup: ['Step 2 (Query database): Zapier has no query step that returns many rows: …'],
        },
      ],
    },
  })
