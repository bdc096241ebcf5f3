import { KEPT_AFFECTED_ITEMS, SHOWN_UNION_ITEMS } from '../contract/workflow.js'
import type { OccurrenceFacts } from '../store/workflows.js'

/** What a detection said, as its occurrence keeps it: the items bounded, their full count beside them. */
export type DetectionWords = Pick<OccurrenceFacts, 'description' | 'affectedItems' | 'affectedCount' | 'opportunitySource'>

/** PURE: what an occurrence keeps of a detection — a 10 000-item list costs 100 items of storage, not 10 000. */
export function detectionWords(input: { description: string; affected_items: readonly string[]; source?: string | null | undefined }): DetectionWords {
  return {
    description: input.description,
    affectedItems: input.affected_items.slice(0, KEPT_AFFECTED_ITEMS),
    affectedCount: input.affected_items.length,
    opportunitySource: input.source ?? null,
  }
}

/** PURE: a detection's number named for what it is — measured by POST /kpis, or the engine's own figure from POST /issues. */
export function detectionValues(source: OccurrenceFacts['source'], value: number): { observed: number | null; reported_value: number | null } {
  return source === 'kpis' ? { observed: value, reported_value: null } : { observed: null, reported_value: value }
}

/** PURE: the kept items a workflow's union does not hold yet, each once, in the order sent. */
export function newUnionItems(kept: readonly string[], known: ReadonlySet<string>): string[] {
  return [...new Set(kept)].filter((item) => !known.has(item))
}

/** PURE: the union a workflow shows once `added` joins it — first seen first, bounded — and how many it holds. */
export function grownUnion(shown: readonly string[], count: number, added: readonly string[]): { items: string[]; count: number } {
  return { items: [...shown, ...added].slice(0, SHOWN_UNION_ITEMS), count: count + added.length }
}

/**
 * PURE: a grouped detection in its audit entry's detail, so the log alone says what it reported:
 * the description, its source and the kept items with their full count (bounded like the occurrence).
 */
export function describeDetection(words: DetectionWords): string {
  const from = words.opportunitySource === null ? '' : ` from ${JSON.stringify(words.opportunitySource)}`
  const more = words.affectedCount > words.affectedItems.length ? `, the first ${words.affectedItems.length} named` : ''
  const count = `${words.affectedCount} affected ${words.affectedCount === 1 ? 'item' : 'items'}`
  const items = words.affectedCount === 0 ? 'no affected items' : `${count}${more}: ${JSON.stringify(words.affectedItems)}`
  return `${JSON.stringify(words.description)}${from}; ${items}`
}
