// Drives a running hip server with fhir-kit-client, a FHIR client we did not write, to
// check that hip speaks FHIR R4 REST the way third-party clients expect.
//
// usage: node client.mjs BASE_URL   (e.g. http://127.0.0.1:8080/fhir)
// Exits 0 when every step passed; otherwise prints the failing step and exits 1.
import { randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';

const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error('usage: node client.mjs BASE_URL');
  process.exit(2);
}
const client = new Client({ baseUrl });

function check(cond, message, got) {
  if (!cond) {
    throw new Error(`${message}; got ${JSON.stringify(got)}`);
  }
}

async function step(name, fn) {
  try {
    const out = await fn();
    console.log(`ok   ${name}`);
    return out;
  } catch (err) {
    const body = err.response ? ` — response ${err.response.status}: ${JSON.stringify(err.response.data)}` : '';
    console.error(`FAIL ${name}: ${err.message}${body}`);
    process.exit(1);
  }
}

const family = `Kit-${randomUUID().slice(0, 8)}`;

const created = await step('create Patient', async () => {
  const res = await client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', name: [{ family, given: ['E2E'] }], gender: 'female', birthDate: '1980-01-02' },
  });
  check(res && res.resourceType === 'Patient' && typeof res.id === 'string' && res.id !== '', 'want the created Patient with an id', res);
  check(res.meta && res.meta.versionId === '1', 'want meta.versionId "1"', res.meta);
  return res;
});

await step('read Patient', async () => {
  const res = await client.read({ resourceType: 'Patient', id: created.id });
  check(res.id === created.id && res.name?.[0]?.family === family, `want Patient/${created.id} named ${family}`, res);
  check(res.meta?.versionId === '1', 'want meta.versionId "1"', res.meta);
});

await step('update Patient', async () => {
  const body = { ...created, name: [{ family, given: ['E2E', 'Updated'] }] };
  const res = await client.update({ resourceType: 'Patient', id: created.id, body });
  check(res.id === created.id && res.meta?.versionId === '2', 'want the update to answer meta.versionId "2"', res);
  const again = await client.read({ resourceType: 'Patient', id: created.id });
  check(again.meta?.versionId === '2' && again.name?.[0]?.given?.[1] === 'Updated', 'want the read after update at version 2', again);
  const v1 = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
  check(v1.meta?.versionId === '1' && v1.name?.[0]?.given?.length === 1, 'want vread of version 1 to be the original', v1);
});

await step('search Patient by _id', async () => {
  const res = await client.search({ resourceType: 'Patient', searchParams: { _id: created.id } });
  check(res.resourceType === 'Bundle' && res.type === 'searchset', 'want a searchset Bundle', res);
  check(res.total === undefined || res.total === 1, 'want total 1', res.total);
  check(res.entry?.length === 1 && res.entry[0].resource?.id === created.id, `want exactly Patient/${created.id}`, res.entry);
});

await step('transaction with a urn:uuid reference', async () => {
  const patientUrn = `urn:uuid:${randomUUID()}`;
  const res = await client.transaction({
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: patientUrn,
          resource: { resourceType: 'Patient', name: [{ family: `${family}-tx` }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '8302-2', display: 'Body height' }] },
            subject: { reference: patientUrn },
            valueQuantity: { value: 172, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  check(res.resourceType === 'Bundle' && res.type === 'transaction-response', 'want a transaction-response Bundle', res);
  check(res.entry?.length === 2, 'want 2 response entries', res.entry);
  const where = res.entry.map((e, i) => {
    check(/^201\b/.test(e.response?.status ?? ''), `entry ${i}: want status 201`, e.response);
    const m = /(?:^|\/)(Patient|Observation)\/([A-Za-z0-9\-.]{1,64})\/_history\/1$/.exec(e.response?.location ?? '');
    check(m, `entry ${i}: want location Type/id/_history/1`, e.response);
    return { type: m[1], id: m[2] };
  });
  check(where[0].type === 'Patient' && where[1].type === 'Observation', 'want entries in request order', where);
  const obs = await client.read({ resourceType: 'Observation', id: where[1].id });
  check(obs.subject?.reference === `Patient/${where[0].id}`, `want the urn:uuid reference resolved to Patient/${where[0].id}`, obs.subject);
  const patient = await client.read({ resourceType: 'Patient', id: where[0].id });
  check(patient.name?.[0]?.family === `${family}-tx`, 'want the transaction Patient readable', patient);
});

console.log('all fhir-kit-client steps passed');
