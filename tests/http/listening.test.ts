import request from 'supertest'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp
beforeAll(async () => {
  t = await testApp()
  await t.app.listen({ port: 0, host: '127.0.0.1' })
})
afterAll(() => t.close())

describe('over a real socket (supertest)', () => {
  it('when an opportunity is posted, then the Location it answers with serves the same workflow', async () => {
    const created = await request(t.app.server).post('/issues').send(sampleOpportunity).expect(201)
    expect(created.headers['content-type']).toMatch(/^application\/json/)
    const fetched = await request(t.app.server).get(created.headers.location as string).expect(200)
    expect(fetched.body.workflow).toEqual(created.body.workflow)
    expect(fetched.body.files).toEqual(created.body.files)
  })

  it('when a form is posted the way Zapier does, then it is a workflow too', async () => {
    const res = await request(t.app.server)
      .post('/issues')
      .type('form')
      .send({ issue_type: 'low_conversion', severity: 'low', description: 'conversion 2.1%', metric_value: '0.021', affected_items: 'landing,pricing' })
      .expect(201)
    expect(res.body.opportunity).toMatchObject({ metric_value: 0.021, affected_items: ['landing', 'pricing'] })
    expect(res.body.workflow.detection.breached).toBe(true)
  })

  it('when every request is answered, then each carries an x-request-id that its audit entry has', async () => {
    const res = await request(t.app.server).get('/healthz').set('x-request-id', 'probe-7').expect(200)
    expect(res.headers['x-request-id']).toBe('probe-7')
    const audit = await request(t.app.server).get('/audit?operation=health.live').expect(200)
    expect(audit.body.items[0].request_id).toBe('probe-7')
  })
})
