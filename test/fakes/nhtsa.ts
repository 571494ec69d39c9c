/**
 * Loopback fake of NHTSA vPIC VIN decoding (crm-and-vehicle-apis.md §2, checklist §2.8).
 *
 * vPIC reports decode problems inside a 200 response (`ErrorCode` is a comma-joined string), so the
 * fake does too; non-200 answers happen only when a test injects a fault. The check-digit and
 * model-year rules are implemented here independently of the product code on purpose: a fake that
 * imported the product's validator could never catch a bug in it.
 */
import type http from 'node:http';
import {
  FaultInjector,
  HttpBodyError,
  applyTransportFault,
  bodyForRecord,
  parseFormBody,
  readBody,
  recordRequest,
  requestUrl,
  sendJson,
  sendText,
  sleep,
  startLoopbackServer,
  type DownMode,
  type FaultMatch,
  type RecordedRequest,
} from './http-util.js';

/** Every key of a flat DecodeVinValues result (vPIC's full variable list, per the typed wrapper cited in §2.2). */
export const NHTSA_FLAT_KEYS = [
  'ABS', 'ActiveSafetySysNote', 'AdaptiveCruiseControl', 'AdaptiveDrivingBeam', 'AdaptiveHeadlights', 'AdditionalErrorText',
  'AirBagLocCurtain', 'AirBagLocFront', 'AirBagLocKnee', 'AirBagLocSeatCushion', 'AirBagLocSide', 'AutoReverseSystem',
  'AutomaticPedestrianAlertingSound', 'AxleConfiguration', 'Axles', 'BasePrice', 'BatteryA', 'BatteryA_to', 'BatteryCells',
  'BatteryInfo', 'BatteryKWh', 'BatteryKWh_to', 'BatteryModules', 'BatteryPacks', 'BatteryType', 'BatteryV', 'BatteryV_to',
  'BedLengthIN', 'BedType', 'BlindSpotIntervention', 'BlindSpotMon', 'BodyCabType', 'BodyClass', 'BrakeSystemDesc',
  'BrakeSystemType', 'BusFloorConfigType', 'BusLength', 'BusType', 'CAN_AACN', 'CIB', 'CashForClunkers', 'ChargerLevel',
  'ChargerPowerKW', 'CoolingType', 'CurbWeightLB', 'CustomMotorcycleType', 'DaytimeRunningLight', 'DestinationMarket',
  'DisplacementCC', 'DisplacementCI', 'DisplacementL', 'Doors', 'DriveType', 'DriverAssist', 'DynamicBrakeSupport', 'EDR', 'ESC',
  'EVDriveUnit', 'ElectrificationLevel', 'EngineConfiguration', 'EngineCycles', 'EngineCylinders', 'EngineHP', 'EngineHP_to',
  'EngineKW', 'EngineManufacturer', 'EngineModel', 'EntertainmentSystem', 'ErrorCode', 'ErrorText', 'ForwardCollisionWarning',
  'FuelInjectionType', 'FuelTypePrimary', 'FuelTypeSecondary', 'GCWR', 'GCWR_to', 'GVWR', 'GVWR_to', 'KeylessIgnition',
  'LaneCenteringAssistance', 'LaneDepartureWarning', 'LaneKeepSystem', 'LowerBeamHeadlampLightSource', 'Make', 'MakeID',
  'Manufacturer', 'ManufacturerId', 'Model', 'ModelID', 'ModelYear', 'MotorcycleChassisType', 'MotorcycleSuspensionType',
  'NCSABodyType', 'NCSAMake', 'NCSAMapExcApprovedBy', 'NCSAMapExcApprovedOn', 'NCSAMappingException', 'NCSAModel', 'NCSANote',
  'NonLandUse', 'Note', 'OtherBusInfo', 'OtherEngineInfo', 'OtherMotorcycleInfo', 'OtherRestraintSystemInfo', 'OtherTrailerInfo',
  'ParkAssist', 'PedestrianAutomaticEmergencyBraking', 'PlantCity', 'PlantCompanyName', 'PlantCountry', 'PlantState',
  'PossibleValues', 'Pretensioner', 'RearAutomaticEmergencyBraking', 'RearCrossTrafficAlert', 'RearVisibilitySystem',
  'SAEAutomationLevel', 'SAEAutomationLevel_to', 'SeatBeltsAll', 'SeatRows', 'Seats', 'SemiautomaticHeadlampBeamSwitching',
  'Series', 'Series2', 'SteeringLocation', 'SuggestedVIN', 'TPMS', 'TopSpeedMPH', 'TrackWidth', 'TractionControl',
  'TrailerBodyType', 'TrailerLength', 'TrailerType', 'TransmissionSpeeds', 'TransmissionStyle', 'Trim', 'Trim2', 'Turbo', 'VIN',
  'ValveTrainDesign', 'VehicleDescriptor', 'VehicleType', 'WheelBaseLong', 'WheelBaseShort', 'WheelBaseType', 'WheelSizeFront',
  'WheelSizeRear', 'Wheels', 'Windows',
] as const;

export type NhtsaFlatKey = (typeof NHTSA_FLAT_KEYS)[number];
export type NhtsaFlatResult = Record<NhtsaFlatKey, string>;
/** Fixture data: any subset of flat keys; numbers are stringified like vPIC does. */
export type NhtsaVehicleData = Partial<Record<NhtsaFlatKey, string | number>>;

export interface NhtsaNestedRow {
  Value: string | null;
  ValueId: string;
  Variable: string;
  VariableId: number;
}

export interface NhtsaEnvelope<T> {
  Count: number;
  Message: string;
  SearchCriteria: string | null;
  Results: T[];
}

export const NHTSA_SUCCESS_MESSAGE =
  'Results returned successfully. NOTE: Any missing decoded values should be interpreted as NHTSA does not have data on the specific variable. Missing value should NOT be interpreted as an indication that a feature or technology is unavailable for a vehicle.';

/** Texts for the codes the fake generates (abridged from vPIC's `Error Code` value list). */
export const NHTSA_ERROR_TEXTS: Record<string, string> = {
  '0': '0 - VIN decoded clean. Check Digit (9th position) is correct',
  '1': '1 - Check Digit (9th position) does not calculate properly',
  '2': '2 - VIN corrected, error in one position',
  '3': '3 - VIN corrected, error in one position (assuming Check Digit is correct)',
  '4': '4 - VIN corrected, error in one position only (indicated by ! in Suggested VIN), multiple matches found',
  '5': '5 - VIN has errors in few positions',
  '6': '6 - Incomplete VIN',
  '7': '7 - Manufacturer is not registered with NHTSA for sale or importation in the U.S. for use on U.S roads; Please contact the manufacturer directly for more information',
  '8': '8 - No detailed data available currently',
  '9': '9 - Glider Warning - VIN provided is for a glider and not a motor vehicle',
  '10': '10 - Off-road vehicle warning - VIN provided is for an off-road vehicle and not a motor vehicle',
  '11': '11 - Incorrect Model Year - position 10 does not contain a valid model year code; decoded data may not be accurate',
  '12': '12 - Model Year Warning - the model year provided does not match the model year decoded from the VIN',
  '14': '14 - Unable to provide information for all the characters in the VIN, based on the manufacturer\'s submission to NHTSA',
  '400': '400 - Invalid Characters Present',
};

/** VariableIds used by the nested endpoints for the variables ServiceLane reads; other variables get placeholder ids ≥ 1000. */
const NESTED_VARIABLES: Partial<Record<NhtsaFlatKey, [string, number]>> = {
  SuggestedVIN: ['Suggested VIN', 142],
  ErrorCode: ['Error Code', 143],
  PossibleValues: ['Possible Values', 144],
  AdditionalErrorText: ['Additional Error Text', 156],
  ErrorText: ['Error Text', 191],
  VehicleDescriptor: ['Vehicle Descriptor', 196],
  DestinationMarket: ['Destination Market', 10],
  Make: ['Make', 26],
  Manufacturer: ['Manufacturer Name', 27],
  Model: ['Model', 28],
  ModelYear: ['Model Year', 29],
  PlantCity: ['Plant City', 31],
  Series: ['Series', 34],
  Trim: ['Trim', 38],
  VehicleType: ['Vehicle Type', 39],
  PlantCountry: ['Plant Country', 75],
  PlantCompanyName: ['Plant Company Name', 76],
  PlantState: ['Plant State', 77],
  Trim2: ['Trim2', 109],
  Series2: ['Series2', 110],
  Note: ['Note', 114],
  BasePrice: ['Base Price ($)', 136],
  BodyClass: ['Body Class', 5],
  Doors: ['Doors', 14],
  DriveType: ['Drive Type', 15],
  EngineCylinders: ['Engine Number of Cylinders', 9],
  DisplacementCC: ['Displacement (CC)', 11],
  DisplacementCI: ['Displacement (CI)', 12],
  DisplacementL: ['Displacement (L)', 13],
  EngineModel: ['Engine Model', 18],
  FuelTypePrimary: ['Fuel Type - Primary', 24],
  GVWR: ['Gross Vehicle Weight Rating From', 25],
  TransmissionStyle: ['Transmission Style', 37],
  TransmissionSpeeds: ['Transmission Speeds', 63],
  EngineConfiguration: ['Engine Configuration', 64],
  FuelTypeSecondary: ['Fuel Type - Secondary', 66],
  EngineHP: ['Engine Brake (hp) From', 71],
  ElectrificationLevel: ['Electrification Level', 126],
};

// --------------------------------------------------------------------------------------------
// VIN rules (49 CFR 565.15 as restated in §2.7)
// --------------------------------------------------------------------------------------------

const TRANSLIT: Record<string, number> = {
  A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: 7, H: 8,
  J: 1, K: 2, L: 3, M: 4, N: 5, P: 7, R: 9,
  S: 2, T: 3, U: 4, V: 5, W: 6, X: 7, Y: 8, Z: 9,
};
const WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
const VALID_CHAR = /^[A-HJ-NPR-Z0-9]$/;

/** Expected 9th character for a 17-character VIN of valid characters. */
export function nhtsaExpectedCheckDigit(vin: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const c = vin[i] ?? '0';
    const v = /[0-9]/.test(c) ? Number(c) : (TRANSLIT[c] ?? 0);
    sum += v * (WEIGHTS[i] ?? 0);
  }
  const r = sum % 11;
  return r === 10 ? 'X' : String(r);
}

const YEAR_CODES = 'ABCDEFGHJKLMNPRSTVWXY123456789';

/** Model year from position 10 (30-year cycle chosen by position 7: digit → 1980–2009, letter → 2010–2039). */
export function nhtsaModelYearFromVin(vin: string): number | undefined {
  const code = vin[9];
  if (code === undefined) return undefined;
  const idx = YEAR_CODES.indexOf(code);
  if (idx < 0) return undefined;
  const p7 = vin[6];
  const base = p7 !== undefined && /[A-Z]/.test(p7) ? 2010 : 1980;
  return base + idx;
}

// --------------------------------------------------------------------------------------------
// Default fixtures: the §2.7 test vectors plus a partial-VIN pattern
// --------------------------------------------------------------------------------------------

export const NHTSA_DEFAULT_VEHICLES: Record<string, NhtsaVehicleData> = {
  '1HGCM82633A004352': {
    Make: 'HONDA', MakeID: 474, Manufacturer: 'AMERICAN HONDA MOTOR CO., INC.', ManufacturerId: 988, Model: 'Accord', ModelID: 1861,
    ModelYear: 2003, Trim: 'EX-V6', BodyClass: 'Coupe', Doors: 2, VehicleType: 'PASSENGER CAR', EngineCylinders: 6,
    DisplacementL: '2.998832712', DisplacementCC: '2998.832712', FuelTypePrimary: 'Gasoline', TransmissionStyle: 'Automatic',
    TransmissionSpeeds: 5, PlantCity: 'MARYSVILLE', PlantState: 'OHIO', PlantCountry: 'UNITED STATES (USA)',
  },
  '3VV3B7AXXNM077525': {
    Make: 'VOLKSWAGEN', MakeID: 482, Manufacturer: 'VOLKSWAGEN DE MEXICO SA DE CV', ManufacturerId: 1148, Model: 'Tiguan', ModelID: 3134,
    ModelYear: 2022, Trim: 'SE', BodyClass: 'Sport Utility Vehicle (SUV)/Multi-Purpose Vehicle (MPV)',
    VehicleType: 'MULTIPURPOSE PASSENGER VEHICLE (MPV)', Doors: 5, DriveType: 'AWD/All-Wheel Drive', EngineCylinders: 4,
    DisplacementL: '2.0', FuelTypePrimary: 'Gasoline', PlantCity: 'PUEBLA', PlantCountry: 'MEXICO',
  },
  '5YJ3E1EA1KF131548': {
    Make: 'TESLA', MakeID: 441, Manufacturer: 'TESLA, INC.', ManufacturerId: 955, Model: 'Model 3', ModelID: 17834, ModelYear: 2019,
    BodyClass: 'Sedan/Saloon', Doors: 4, VehicleType: 'PASSENGER CAR', DriveType: 'RWD/Rear-Wheel Drive',
    ElectrificationLevel: 'BEV (Battery Electric Vehicle)', FuelTypePrimary: 'Electric', PlantCity: 'FREMONT',
    PlantState: 'CALIFORNIA', PlantCountry: 'UNITED STATES (USA)',
  },
  '1FTFW1ET5DFC10312': {
    Make: 'FORD', MakeID: 460, Manufacturer: 'FORD MOTOR COMPANY, USA', ManufacturerId: 976, Model: 'F-150', ModelID: 1801,
    ModelYear: 2013, Series: 'F-Series', BodyClass: 'Pickup', BodyCabType: 'Crew/Super Crew/Crew Max', Doors: 4,
    VehicleType: 'TRUCK', DriveType: '4WD/4-Wheel Drive/4x4', EngineCylinders: 6, DisplacementL: '3.5', Turbo: 'Yes',
    FuelTypePrimary: 'Gasoline', PlantCity: 'DEARBORN', PlantState: 'MICHIGAN', PlantCountry: 'UNITED STATES (USA)',
  },
};

/** Prefix patterns (WMI + VDS) that decode any VIN or partial VIN sharing those characters. */
export const NHTSA_DEFAULT_PATTERNS: Record<string, NhtsaVehicleData> = {
  '5UXWX7C5': {
    Make: 'BMW', MakeID: 452, Manufacturer: 'BMW MANUFACTURER CORPORATION / BMW NORTH AMERICA', ManufacturerId: 1024, Model: 'X3',
    ModelID: 1722, BodyClass: 'Sport Utility Vehicle (SUV)/Multi-Purpose Vehicle (MPV)', VehicleType: 'MULTIPURPOSE PASSENGER VEHICLE (MPV)',
    DriveType: 'AWD/All-Wheel Drive', EngineCylinders: 6, DisplacementL: '3.0', FuelTypePrimary: 'Gasoline', PlantCity: 'GREER',
    PlantState: 'SOUTH CAROLINA', PlantCountry: 'UNITED STATES (USA)',
  },
};

// --------------------------------------------------------------------------------------------
// Public API
// --------------------------------------------------------------------------------------------

export interface FakeNhtsaOptions {
  /** Install NHTSA_DEFAULT_VEHICLES / NHTSA_DEFAULT_PATTERNS. Default true. */
  defaultFixtures?: boolean;
  /** Answer for a missing `format`: 'xml' (vPIC's default, default here) or 'error' (400). */
  missingFormat?: 'xml' | 'error';
  /** Max VINs in one batch (vPIC: 50); more → HTTP 400. */
  maxBatch?: number;
}

export interface FakeNhtsa {
  /** `http://127.0.0.1:<port>`; the connector's base URL is `url + '/api/vehicles/'`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /**
   * Fixture for a VIN (case-insensitive). Like vPIC, it also answers any VIN or partial VIN whose descriptor
   * (positions 1–8 and 10–11; `*` = unknown) agrees with it, i.e. other check digits/serials decode the same.
   */
  addVehicle(vin: string, data: NhtsaVehicleData): void;
  /** Fixture for every VIN starting with `prefix` (e.g. WMI+VDS, 3–11 chars). Longest prefix wins; exact VINs win over patterns. */
  addPattern(prefix: string, data: NhtsaVehicleData): void;
  removeVehicle(vin: string): void;
  /** The flat result the fake would return for this VIN (no HTTP, not recorded). */
  decode(vin: string, modelYear?: string): NhtsaFlatResult;
  /** Recorded decode requests (all four GET variants and batch), optionally only those naming `vin` (case-insensitive). */
  decodeRequests(vin?: string): RecordedRequest[];
  /** 'error' → `status` (default 503); 'timeout' → never answers; 'reset' → socket destroyed. */
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  /** Next `n` matching requests answer `status` (429 and 5xx get an IIS-style HTML body unless `body` is given). */
  failNext(n: number, status: number, opts?: { body?: unknown; match?: FaultMatch }): void;
  hangNext(n: number, match?: FaultMatch): void;
  setLatency(ms: number): void;
  readonly faults: FaultInjector;
  clearRequests(): void;
  close(): Promise<void>;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlError(status: number): string {
  const title = status === 429 ? 'Too Many Requests' : status === 503 ? 'Service Unavailable' : `HTTP Error ${status}`;
  return `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n<HTML><HEAD><TITLE>${title}</TITLE></HEAD><BODY><h2>${title}</h2><hr><p>HTTP Error ${status}. ${title}.</p></BODY></HTML>\r\n`;
}

const DECODE_ROUTES = new Map<string, { nested: boolean }>([
  ['decodevinvalues', { nested: false }],
  ['decodevinvaluesextended', { nested: false }],
  ['decodevin', { nested: true }],
  ['decodevinextended', { nested: true }],
]);

export async function startFakeNhtsa(opts: FakeNhtsaOptions = {}): Promise<FakeNhtsa> {
  const vehicles = new Map<string, NhtsaVehicleData>();
  const patterns = new Map<string, NhtsaVehicleData>();
  if (opts.defaultFixtures !== false) {
    for (const [k, v] of Object.entries(NHTSA_DEFAULT_VEHICLES)) vehicles.set(k, v);
    for (const [k, v] of Object.entries(NHTSA_DEFAULT_PATTERNS)) patterns.set(k, v);
  }
  const maxBatch = opts.maxBatch ?? 50;
  const requests: RecordedRequest[] = [];
  const faults = new FaultInjector();

  const agrees = (input: string, fixture: string): boolean => {
    for (let i = 0; i < Math.min(input.length, fixture.length); i++) {
      const c = input[i]!;
      if (c !== '*' && c !== fixture[i]) return false;
    }
    return true;
  };

  function lookup(vin: string): NhtsaVehicleData | undefined {
    const exact = vehicles.get(vin);
    if (exact) return exact;
    // vPIC decodes from the descriptor (positions 1–8, 10–11), not the serial: a VIN that differs from a
    // fixture only in the check digit or serial still decodes to that vehicle, as do partial VINs.
    const descriptor = (x: string): string => `${x.slice(0, 8)}${x.slice(9, 11)}`;
    if (vin.length >= 3) {
      for (const [k, v] of vehicles) if (agrees(descriptor(vin), descriptor(k))) return v;
    }
    let best: [string, NhtsaVehicleData] | undefined;
    for (const [prefix, v] of patterns) {
      if (vin.length < Math.min(prefix.length, 3)) continue;
      if (agrees(vin, prefix) && (!best || prefix.length > best[0].length)) best = [prefix, v];
    }
    return best?.[1];
  }

  function decodeFlat(vinAsSent: string, modelYear: string | undefined): NhtsaFlatResult {
    const vin = vinAsSent.trim().toUpperCase();
    const out = Object.fromEntries(NHTSA_FLAT_KEYS.map((k) => [k, ''])) as NhtsaFlatResult;
    const codes = new Set<string>();
    const additional: string[] = [];

    const invalid: string[] = [];
    for (let i = 0; i < vin.length; i++) {
      const c = vin[i]!;
      if (c !== '*' && !VALID_CHAR.test(c)) invalid.push(`${i + 1}:${c}`);
    }
    if (invalid.length > 0) {
      codes.add('400');
      additional.push(`Invalid character(s): ${invalid.join(',')}.`);
    }
    const partial = vin.length < 17 || vin.includes('*');
    if (partial) codes.add('6');
    if (vin.length > 17) codes.add('5');
    if (vin.length === 17 && !partial && invalid.length === 0 && nhtsaExpectedCheckDigit(vin) !== vin[8]) codes.add('1');
    const p10 = vin[9];
    if (p10 !== undefined && p10 !== '*' && 'IOQUZ0'.includes(p10)) codes.add('11');

    const data = lookup(vin);
    if (!data) codes.add('7');
    for (const [k, v] of Object.entries(data ?? {})) {
      if ((NHTSA_FLAT_KEYS as readonly string[]).includes(k) && v !== undefined) out[k as NhtsaFlatKey] = String(v);
    }
    if (data && out.ModelYear === '') {
      const derived = modelYear ?? (codes.has('11') ? undefined : nhtsaModelYearFromVin(vin)?.toString());
      if (derived) out.ModelYear = derived;
    }
    if (data && modelYear && out.ModelYear !== '' && out.ModelYear !== modelYear) codes.add('12');

    out.VIN = vinAsSent;
    if (vin.length >= 11) out.VehicleDescriptor = `${vin.slice(0, 8)}*${vin.slice(9, 11)}`;
    if (data?.ErrorCode === undefined) {
      if (codes.size === 0) codes.add('0');
      const sorted = [...codes].sort((a, b) => Number(a) - Number(b));
      out.ErrorCode = sorted.join(',');
      out.ErrorText = sorted.map((c) => NHTSA_ERROR_TEXTS[c] ?? c).join('; ');
      if (data?.AdditionalErrorText === undefined) out.AdditionalErrorText = additional.join(' ');
    }
    return out;
  }

  function toNested(flat: NhtsaFlatResult): NhtsaNestedRow[] {
    let placeholder = 1000;
    return NHTSA_FLAT_KEYS.filter((k) => k !== 'VIN').map((k) => {
      const known = NESTED_VARIABLES[k];
      const v = flat[k];
      return {
        Value: v === '' ? null : v,
        ValueId: '',
        Variable: known?.[0] ?? k.replace(/([a-z])([A-Z])/g, '$1 $2'),
        VariableId: known?.[1] ?? placeholder++,
      };
    });
  }

  function renderXml(env: NhtsaEnvelope<NhtsaFlatResult | NhtsaNestedRow>, nested: boolean): string {
    const rows = env.Results.map((r) => {
      if (nested) {
        const n = r as NhtsaNestedRow;
        return `<DecodedVariable><Value>${xmlEscape(n.Value ?? '')}</Value><ValueId>${n.ValueId}</ValueId><Variable>${xmlEscape(n.Variable)}</Variable><VariableId>${n.VariableId}</VariableId></DecodedVariable>`;
      }
      const f = r as NhtsaFlatResult;
      return `<DecodedVINValues>${NHTSA_FLAT_KEYS.map((k) => (f[k] === '' ? `<${k} />` : `<${k}>${xmlEscape(f[k])}</${k}>`)).join('')}</DecodedVINValues>`;
    }).join('');
    return `<?xml version="1.0" encoding="utf-8"?><Response xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Count>${env.Count}</Count><Message>${xmlEscape(env.Message)}</Message><SearchCriteria>${xmlEscape(env.SearchCriteria ?? '')}</SearchCriteria><Results>${rows}</Results></Response>`;
  }

  function renderCsv(rows: NhtsaFlatResult[]): string {
    const esc = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const keys = NHTSA_FLAT_KEYS.map((k) => k.toLowerCase());
    return [keys.join(','), ...rows.map((r) => NHTSA_FLAT_KEYS.map((k) => esc(r[k])).join(','))].join('\r\n') + '\r\n';
  }

  function respond(res: http.ServerResponse, format: string | null, env: NhtsaEnvelope<NhtsaFlatResult | NhtsaNestedRow>, nested: boolean): void {
    const f = format?.toLowerCase() ?? null;
    if (f === 'json') {
      // Key order matters to some clients; build it explicitly.
      sendJson(res, 200, { Count: env.Count, Message: env.Message, SearchCriteria: env.SearchCriteria, Results: env.Results });
      return;
    }
    if (f === 'csv' && !nested) {
      sendText(res, 200, renderCsv(env.Results as NhtsaFlatResult[]), 'text/csv; charset=utf-8');
      return;
    }
    if (f === null && opts.missingFormat === 'error') {
      sendText(res, 400, 'Missing required parameter: format', 'text/plain; charset=utf-8');
      return;
    }
    sendText(res, 200, renderXml(env, nested), 'application/xml; charset=utf-8');
  }

  const srv = await startLoopbackServer(async (req, res) => {
    const url = requestUrl(req);
    const method = req.method ?? 'GET';
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof HttpBodyError) {
        sendText(res, err.status, htmlError(err.status), 'text/html');
        return;
      }
      throw err;
    }
    requests.push(recordRequest(req, url, raw, bodyForRecord(raw, req.headers['content-type'])));

    const fault = faults.take(method, url.pathname);
    if (fault && applyTransportFault(req, fault)) return;
    if (faults.latency > 0) await sleep(faults.latency);
    if (fault?.kind === 'status') {
      if (fault.body !== undefined) sendJson(res, fault.status, fault.body, fault.headers);
      else sendText(res, fault.status, htmlError(fault.status), 'text/html', fault.headers);
      return;
    }

    const segs = url.pathname.split('/').filter(Boolean);
    const [api, vehiclesSeg, endpoint, ...rest] = segs;
    if (api?.toLowerCase() !== 'api' || vehiclesSeg?.toLowerCase() !== 'vehicles' || endpoint === undefined) {
      sendText(res, 404, htmlError(404), 'text/html');
      return;
    }
    const ep = endpoint.toLowerCase();
    const route = DECODE_ROUTES.get(ep);
    if (route && method === 'GET' && rest.length === 1 && rest[0] !== undefined && rest[0] !== '') {
      const vinAsSent = decodeURIComponent(rest[0]);
      const modelYear = url.searchParams.get('modelyear') ?? undefined;
      const flat = decodeFlat(vinAsSent, modelYear);
      const results = route.nested ? toNested(flat) : [flat];
      respond(res, url.searchParams.get('format'), { Count: results.length, Message: NHTSA_SUCCESS_MESSAGE, SearchCriteria: `VIN(s): ${vinAsSent}`, Results: results }, route.nested);
      return;
    }
    if (ep === 'decodevinvaluesbatch' && method === 'POST' && rest.length === 0) {
      const form = parseFormBody(raw);
      const data = form.get('DATA') ?? form.get('data') ?? '';
      const entries = data
        .split(';')
        .map((e) => e.trim())
        .filter((e) => e !== '')
        .map((e) => {
          const [vin, year] = e.split(',').map((x) => x.trim());
          return { vin: vin ?? '', year: year && year !== '' ? year : undefined };
        });
      if (entries.length > maxBatch) {
        sendJson(res, 400, { Count: 0, Message: `Maximum of ${maxBatch} VINs allowed per batch request`, SearchCriteria: null, Results: [] });
        return;
      }
      const results = entries.map((e) => decodeFlat(e.vin, e.year));
      respond(res, form.get('format') ?? url.searchParams.get('format'), { Count: results.length, Message: NHTSA_SUCCESS_MESSAGE, SearchCriteria: `VIN(s): ${entries.map((e) => e.vin).join(';')}`, Results: results }, false);
      return;
    }
    sendText(res, 404, htmlError(404), 'text/html');
  });

  const isDecode = (r: RecordedRequest): boolean => {
    const ep = r.path.split('/').filter(Boolean)[2]?.toLowerCase() ?? '';
    return DECODE_ROUTES.has(ep) || ep === 'decodevinvaluesbatch';
  };

  return {
    url: srv.url,
    requests,
    addVehicle(vin, data) {
      vehicles.set(vin.trim().toUpperCase(), data);
    },
    addPattern(prefix, data) {
      patterns.set(prefix.trim().toUpperCase(), data);
    },
    removeVehicle(vin) {
      vehicles.delete(vin.trim().toUpperCase());
    },
    decode: (vin, modelYear) => decodeFlat(vin, modelYear),
    decodeRequests(vin) {
      const want = vin?.trim().toUpperCase();
      return requests.filter((r) => {
        if (!isDecode(r)) return false;
        if (want === undefined) return true;
        const inPath = decodeURIComponent(r.path.split('/').filter(Boolean)[3] ?? '').toUpperCase();
        const inBatch = typeof r.body === 'object' && r.body !== null ? String((r.body as Record<string, unknown>).DATA ?? '').toUpperCase() : '';
        return inPath === want || inBatch.split(';').some((e) => e.split(',')[0]?.trim() === want);
      });
    },
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    failNext: (n, status, o) => faults.failNext(n, status, o),
    hangNext: (n, match) => faults.hangNext(n, match),
    setLatency: (ms) => faults.setLatency(ms),
    faults,
    clearRequests() {
      requests.length = 0;
    },
    close: () => srv.close(),
  };
}
