"""The GraphQL documents the client sends (written for this project; see wandb-protocol.md).

Every document is a subset of what the official SDK 0.31 sends, so any server that serves the
SDK serves us. Operation names are set so server logs and fault rules can match them.
"""

from __future__ import annotations

RUN_FIELDS = """
fragment RunFields on Run {
    id
    name
    displayName
    state
    tags
    group
    jobType
    sweepName
    commit
    readOnly
    createdAt
    heartbeatAt
    description
    notes
    historyLineCount
    user { name username }
    config
    summaryMetrics
    systemMetrics
    historyKeys
}
"""

VIEWER = """
query Viewer {
    viewer { id entity username }
}
"""

RUNS = (
    """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50,
           $order: String, $filters: JSONString) {
    project(name: $project, entityName: $entity) {
        internalId
        runCount(filters: $filters)
        runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
            edges { node { projectId ...RunFields } cursor }
            pageInfo { endCursor hasNextPage }
        }
    }
}
"""
    + RUN_FIELDS
)

RUN_STATES = """
query RunStates($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50,
                $order: String, $filters: JSONString) {
    project(name: $project, entityName: $entity) {
        projectRunCount: runCount
        runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
            edges { node { name state createdAt heartbeatAt historyLineCount } cursor }
            pageInfo { endCursor hasNextPage }
        }
    }
}
"""

RUN_CHANGES = """
query RunChanges($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50,
                 $order: String, $filters: JSONString) {
    project(name: $project, entityName: $entity) {
        runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
            edges { node { name state createdAt heartbeatAt historyLineCount historyKeys } cursor }
            pageInfo { endCursor hasNextPage }
        }
    }
}
"""

RUN = (
    """
query Run($project: String!, $entity: String!, $name: String!) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { projectId ...RunFields }
    }
}
"""
    + RUN_FIELDS
)

RUN_CONFIG_AND_SUMMARY = """
query RunConfigAndSummary($project: String!, $entity: String!, $name: String!) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { id config summaryMetrics }
    }
}
"""

RUN_HISTORY_KEYS = """
query RunHistoryKeys($project: String!, $entity: String!, $name: String!) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { historyKeys historyLineCount }
    }
}
"""

RUN_FULL_HISTORY = """
query RunFullHistory($project: String!, $entity: String!, $name: String!, $samples: Int) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { history(samples: $samples) }
    }
}
"""

RUN_EVENTS = """
query RunEvents($project: String!, $entity: String!, $name: String!, $samples: Int) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { events(samples: $samples) }
    }
}
"""

RUN_EVENTS_AND_COUNT = """
query RunEventsAndCount($project: String!, $entity: String!, $name: String!, $samples: Int) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { eventsLineCount events(samples: $samples) }
    }
}
"""

RUN_SAMPLED_HISTORY = """
query RunSampledHistory($project: String!, $entity: String!, $name: String!,
                        $specs: [JSONString!]!) {
    project(name: $project, entityName: $entity) {
        run(name: $name) { sampledHistory(specs: $specs) }
    }
}
"""

HISTORY_PAGE = """
query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!,
                  $maxStep: Int64!, $pageSize: Int!) {
    project(name: $project, entityName: $entity) {
        run(name: $run) { history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) }
    }
}
"""

RUN_PARQUET_HISTORY = """
query RunParquetHistory($entity: String!, $project: String!, $runName: String!,
                        $liveKeys: [String!]!) {
    project(name: $project, entityName: $entity) {
        run(name: $runName) {
            historyKeys
            historyLineCount
            parquetHistory(liveKeys: $liveKeys) { parquetUrls liveData }
        }
    }
}
"""

RUN_FILES = """
query RunFiles($project: String!, $entity: String!, $name: String!, $fileCursor: String,
               $fileLimit: Int = 50, $fileNames: [String] = [], $upload: Boolean = false,
               $pattern: String) {
    project(name: $project, entityName: $entity) {
        internalId
        run(name: $name) {
            fileCount
            files(names: $fileNames, after: $fileCursor, first: $fileLimit, pattern: $pattern) {
                edges {
                    node { id name url(upload: $upload) directUrl sizeBytes mimetype updatedAt md5 }
                    cursor
                }
                pageInfo { endCursor hasNextPage }
            }
        }
    }
}
"""

CREATE_RUN_FILES = """
mutation CreateRunFiles($entity: String!, $project: String!, $run: String!,
                        $files: [String!]!) {
    createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run,
                           files: $files}) {
        runID
        uploadHeaders
        files { name uploadUrl }
    }
}
"""

MARK_RUN_FILES_UPLOADED = """
mutation MarkRunFilesUploaded($entity: String!, $project: String!, $run: String!,
                              $files: [String!]!) {
    markRunFilesUploaded(input: {entityName: $entity, projectName: $project, runName: $run,
                                 files: $files}) { success }
}
"""

SERVER_FEATURES = """
query ServerFeaturesQuery {
    serverInfo { features { name isEnabled } }
}
"""

DELETE_FILES = """
mutation deleteFiles($files: [ID!]!, $projectId: Int) {
    deleteFiles(input: {files: $files, projectId: $projectId}) { success }
}
"""

UPSERT_RUN = (
    """
mutation UpsertBucket($id: String!, $description: String, $display_name: String,
                      $notes: String, $tags: [String!], $config: JSONString,
                      $groupName: String, $jobType: String) {
    upsertBucket(input: {id: $id, description: $description, displayName: $display_name,
                         notes: $notes, tags: $tags, config: $config, groupName: $groupName,
                         jobType: $jobType}) {
        bucket { projectId ...RunFields }
    }
}
"""
    + RUN_FIELDS
)

UPSERT_SUMMARY = """
mutation UpsertBucket($id: String, $summaryMetrics: JSONString) {
    upsertBucket(input: {id: $id, summaryMetrics: $summaryMetrics}) {
        bucket { id summaryMetrics }
    }
}
"""

# `deleteArtifacts` only in the variant that asks for it: older W&B servers lack the field
DELETE_RUN = """
mutation DeleteRun($id: ID!) {
    deleteRun(input: {id: $id}) { clientMutationId }
}
"""

DELETE_RUN_WITH_ARTIFACTS = """
mutation DeleteRun($id: ID!, $deleteArtifacts: Boolean) {
    deleteRun(input: {id: $id, deleteArtifacts: $deleteArtifacts}) { clientMutationId }
}
"""

SWEEP_FIELDS = """
fragment SweepFields on Sweep {
    id
    name
    displayName
    method
    state
    description
    bestLoss
    config
    createdAt
    updatedAt
    runCount
    runCountExpected
}
"""

GET_SWEEP = (
    """
query GetSweep($name: String!, $project: String, $entity: String) {
    project(name: $project, entityName: $entity) {
        sweep(sweepName: $name) { ...SweepFields }
    }
}
"""
    + SWEEP_FIELDS
)

# Sweep filters need W&B server 0.81.4 (the SDK's `sweeps.py`); older servers get the legacy list
GET_SWEEPS = (
    """
query GetSweeps($project: String!, $entity: String!, $filters: JSONString!, $cursor: String,
                $perPage: Int = 50) {
    project(name: $project, entityName: $entity) {
        sweeps(after: $cursor, first: $perPage, filters: $filters) {
            pageInfo { endCursor hasNextPage }
            edges { node { ...SweepFields } }
        }
    }
}
"""
    + SWEEP_FIELDS
)

# What older W&B servers answer (the SDK's `GetSweepLegacy` fields)
LEGACY_SWEEP_FIELDS = """
fragment SweepFields on Sweep {
    id
    name
    state
    bestLoss
    config
}
"""

GET_SWEEP_LEGACY = GET_SWEEP.replace(SWEEP_FIELDS, LEGACY_SWEEP_FIELDS)

_SWEEPS_UNFILTERED = """
query GetSweeps($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50) {
    project(name: $project, entityName: $entity) {
        sweeps(after: $cursor, first: $perPage) {
            pageInfo { endCursor hasNextPage }
            edges { node { ...SweepFields } }
        }
    }
}
"""

GET_SWEEPS_UNFILTERED = _SWEEPS_UNFILTERED + SWEEP_FIELDS

GET_SWEEPS_LEGACY = _SWEEPS_UNFILTERED + LEGACY_SWEEP_FIELDS

RUN_CONSOLE_LOG_PAGE = """
query RunConsoleLogPage($entity: String!, $project: String!, $runName: String!, $first: Int,
                        $after: String) {
    project(name: $project, entityName: $entity) {
        run(name: $runName) {
            logLines(first: $first, after: $after, useImprovedPagination: true) {
                edges { node { number timestamp level label line } }
                pageInfo { endCursor hasNextPage }
            }
        }
    }
}
"""

RUN_CONSOLE_LOG_TAIL = """
query RunConsoleLogTail($entity: String!, $project: String!, $runName: String!, $last: Int!) {
    project(name: $project, entityName: $entity) {
        run(name: $runName) {
            logLines(last: $last) { edges { node { number timestamp level label line } } }
        }
    }
}
"""

PROJECTS = """
query GetProjects($entity: String, $cursor: String, $perPage: Int = 50) {
    models(entityName: $entity, after: $cursor, first: $perPage) {
        pageInfo { endCursor hasNextPage }
        edges { node { id name entityName createdAt isBenchmark user { name username } } }
    }
}
"""
