export * from "./trace/mod.ts";
