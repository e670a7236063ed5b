export * from "./controls/mod.ts";
