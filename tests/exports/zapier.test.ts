import { describe, expect, it } from 'vitest'
import { exportOf, playbooks } from './fixtures.js'

describe('the Zapier recipe', () => {
  it('when exported, then it starts with Catch Hook and a curl whose body POST /issues would accept, and lists each action with app, event and fields', () => {
    const recipe = exportOf('zapier', 'abandoned_carts').content
    expect(recipe).toMatch(/^# Auto-Recovery: Abandoned Cart \(high\) — Zapier recipe/)
    expect(recipe).toContain('## Step 1 — Trigger: Webhooks by Zapier → Catch Hook')
    const curl = /-d '(.*)'/.exec(recipe)?.[1] ?? ''
    expect(JSON.parse(curl)).toMatchObject({ issue_type: 'abandoned_carts', severity: 'high', metric_value: 0.5 })
    expect(recipe).toContain('### Step 2 — Query database (1/2): Webhooks by Zapier → Custom Request')
    expect(recipe).toContain('### Step 3 — Query database (2/2): Looping by Zapier → Create Loop From Line Items')
    expect(recipe).toContain('### Step 5 — Generate AI message (1/2): Code by Zapier → Run JavaScript')
    expect(recipe).toContain('### Step 6 — Generate AI message (2/2): ChatGPT (OpenAI) → Conversation')
    expect(recipe).toContain('### Step 7 — Send email: Email by Zapier → Send Outbound Email')
    expect(recipe).toContain('- **To**: `«3. email»`')
    expect(recipe).toContain('- **Body**: `«6. Reply»`')
    expect(recipe).toContain('| `sender_email` |')
    expect(recipe).toContain('## Before you turn it on')
    expect(recipe).not.toMatch(/\{\{(?!config|body)/) // every read is a pill, no template left
  })

  it('when the description holds quotes and shell syntax, then the curl still sends it as one quoted argument', () => {
    const recipe = exportOf('zapier', 'high_churn', 'low', { description: "it's $(rm -rf /) `id`" }).content
    const line = recipe.split('\n').find((l) => l.startsWith("  -d '")) ?? ''
    expect(line).toContain("it'\\''s $(rm -rf /) `id`")
  })

  it('when every type is exported, then every step of the playbook has a section', () => {
    for (const [issueType, playbook] of playbooks) {
      const recipe = exportOf('zapier', issueType).content
      for (const step of playbook.steps) expect(recipe, issueType).toContain(step.description)
    }
  })
})
