import { MemoryDriver } from "../../src/storage/memory.js";
import { driverSuite } from "./suite.js";

driverSuite("inmemory", async () => ({ driver: new MemoryDriver(), cleanup: async () => {} }));
