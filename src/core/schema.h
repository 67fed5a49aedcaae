/* The schemas nurs-lua publishes for what it writes: the JSON Schema of
 * its JSON records and the .proto of its protobuf flow records
 * (files in schema/, compiled into the binary; `nurs-lua --schema json|proto`
 * prints them). One version number for both: fields are added, never
 * renumbered or retyped; docs/schema.md. */
#ifndef NURS_CORE_SCHEMA_H
#define NURS_CORE_SCHEMA_H

#define NURS_SCHEMA_VERSION 1

extern const char nurs_schema_json[];  /* schema/nurs_record.schema.json */
extern const char nurs_schema_proto[]; /* schema/nurs_flow.proto */

#endif
