#!/usr/bin/env node
import "./threadpool.js";
import { Command } from "commander";
import { serveCommand } from "./serve.js";
import { exitCodes, reportError } from "./exit.js";

const program = new Command("lading")
  .description("A container image registry and a daemonless image-assembly toolkit")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : exitCodes.usage));

program.addCommand(serveCommand());

program.parseAsync(process.argv).catch((err: unknown) => process.exit(reportError(err)));
